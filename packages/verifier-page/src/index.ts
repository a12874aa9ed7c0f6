// The API's side of the page; the build itself (esbuild) is imported only where it runs.
export { readVerifierPage, VERIFIER_PAGE_FILE } from './page-file';
