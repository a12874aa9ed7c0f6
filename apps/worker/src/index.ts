export { runWorker } from './main';
