// How the agent's JavaScript is compiled (main.ts sets it at start).

/**
 * The V8 flag the agent runs with unless node was given one of its own: no optimizing compiler (TurboFan, and Maglev
 * where a newer node turns it on). An agent's code is not hot enough to pay for it — a heartbeat a second and bursts
 * of RPCs — so compiling costs more CPU than the compiled code saves (bench/rollout, half the agents without it: their
 * CPU per domain-node 0.944 and 0.950 of the others'), and the compiler's own code pages in ~3 MiB of the `node`
 * binary (an idle agent 49.3 MiB at a minute, ~46.3 MiB without).
 */
export function jitFlag(execArgv: readonly string[]): string | null {
  return execArgv.some((a) => /^--(no-)?(max-opt|opt|turbofan|maglev|sparkplug)(=|$)/.test(a)) ? null : '--max-opt=1';
}
