export * from './version.ts';
export * from './roles.ts';
export * from './frames.ts';
export * from './rpc.ts';
export * from './token.ts';
export * from './names.ts';
export * from './env.ts';
export * from './vod.ts';
