// Worker-thread entry: registers the TypeScript loader, then runs the worker module. Plain
// JavaScript so that it starts whatever loader the parent process used.
import { register } from 'tsx/esm/api';

register();
await import('./receipt-worker.ts');
