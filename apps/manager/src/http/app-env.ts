/** What the HTTP app's middleware sets for the routes after it (Hono's `Variables`). */
export type AppEnv = {
  Variables: {
    requestStart: number;
    /** The calling node, on agent routes. */
    nodeId?: string;
  };
};
