// esbuild turns `import "./x.css"` into the sibling <widget>.css bundle; TypeScript only needs to know it exists.
declare module "*.css";
