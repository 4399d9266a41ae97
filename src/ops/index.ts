// The op vocabulary, one import for models and training code.
export * from './creation';
export * from './elementwise';
export * from './reduce';
export * from './movement';
export * from './matmul';
export * from './mlp';
export * from './indexing';
export * from './activation';
export * from './attention';
export * from './normalization';
export * from './loss';
export * from './conv';
export * from './pool';
export * from './resize';
export * from './dropout';
export * from './sort';
