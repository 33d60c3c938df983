#!/usr/bin/env node
/** The only module that touches the process: argv, env, streams, signals, exit. */
import { runCli } from './cli.js';

const signal = new Promise<string>((resolve) => {
  process.once('SIGTERM', () => resolve('SIGTERM'));
  process.once('SIGINT', () => resolve('SIGINT'));
});

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  signal,
});
process.exit(code);
