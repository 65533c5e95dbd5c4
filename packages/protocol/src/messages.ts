import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// The protocol's schemas are written with zod/mini: the agent bundles them, and classic zod's chained API costs an
// idle agent ~5 MiB (its whole module, and a dozen methods made for every schema). zod/mini leaves the messages to the
// caller: English ones, as classic zod sets them, so that a refused value says why wherever the schemas run.
config(en());
