/**
 * `npm start`: load the configuration, listen, load the models in the background (/readyz says
 * when they are warm), and shut down gracefully on SIGTERM/SIGINT: stop accepting connections,
 * let in-flight requests finish, release the sessions, exit 0.
 */
import { createApp } from './app';
import type { Lifecycle } from './serveContext';
import { ConfigError, loadConfig, type Config } from './config';
import { ModelRepository } from './modelRepository';
import { createServerLogger } from './serverLogger';

function readConfig(): Config {
  try {
    return loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

function main(): void {
  const config = readConfig();
  const log = createServerLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const repo = new ModelRepository(config, log);
  const lifecycle: Lifecycle = { draining: false };
  const app = createApp(config, repo, { logger: log, lifecycle });

  const server = app.listen(config.PORT, config.HOST);
  server.on('listening', () => {
    const addr = server.address();
    const where = typeof addr === 'object' && addr ? `http://${addr.address}:${addr.port}` : String(addr);
    log.info(`listening on ${where} (page /, API docs /docs); loading models from ${config.MODELS_DIR}`);
  });
  server.on('error', (e: NodeJS.ErrnoException) => {
    log.fatal(`cannot listen on ${config.HOST}:${config.PORT}: ${e.code ?? e.message}`);
    process.exit(1);
  });
  void repo.load().then(() => {
    if (config.MODEL_CONTROL === 'poll') repo.watch();
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    lifecycle.draining = true;
    log.info(`${signal}: no longer accepting connections, finishing in-flight requests`);
    const force = setTimeout(() => {
      log.error(`in-flight requests still running after SHUTDOWN_TIMEOUT_MS=${config.SHUTDOWN_TIMEOUT_MS}: exiting`);
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    // Keep-alive connections become idle once their response is sent; close them as they do.
    const reaper = setInterval(() => server.closeIdleConnections(), 100);
    server.close(() => {
      clearInterval(reaper);
      repo
        .close()
        .then(() => {
          clearTimeout(force);
          log.info('shutdown complete');
          process.exit(0);
        })
        .catch((e: unknown) => {
          log.error(`shutdown: ${(e as Error).message}`);
          process.exit(1);
        });
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('unhandledRejection', (e) => {
    log.fatal({ err: e }, 'unhandled promise rejection');
    process.exit(1);
  });
}

main();
