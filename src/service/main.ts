/**
 * `warden-service --config <dir> [--host 127.0.0.1] [--port 8765]`: the enforcement service.
 * An invalid configuration stops it at start-up with file, line and what is wrong.
 */
// First: sizes libuv's thread pool before any module uses it (./threadpool.ts).
import './threadpool';
import { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError } from './config/load';
import { createApiServer } from './http/server';
import { WardenService } from './service';

const USAGE = 'usage: warden-service --config <dir> [--host 127.0.0.1] [--port 8765] [--no-watch] [--exit-with-stdin]';

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8765' },
        'no-watch': { type: 'boolean', default: false },
        // For a parent that keeps our stdin open: when it dies, even by SIGKILL, we go too.
        'exit-with-stdin': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }));
  } catch (error) {
    console.error(`warden-service: ${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!values.config || !Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`warden-service: ${values.config ? `invalid port "${values.port}"` : '--config is required'}\n${USAGE}`);
    process.exit(2);
  }
  // The service log: JSON lines (access/log.ts), on stdout, errors on stderr.
  const logger = {
    info: (line: string) => console.log(line),
    error: (line: string) => console.error(line)
  };
  let service: WardenService;
  try {
    service = await WardenService.start(values.config, logger);
  } catch (error) {
    const prefix = error instanceof ConfigError ? 'invalid configuration' : 'cannot start';
    console.error(`warden-service: ${prefix}: ${(error as Error).message}`);
    process.exit(1);
  }
  if (!values['no-watch']) service.watchConfig();
  const server = createApiServer(service);
  server.on('error', error => {
    console.error(`warden-service: cannot listen on ${values.host}:${port}: ${error.message}`);
    process.exit(1);
  });
  server.listen(port, values.host, () => {
    const address = server.address() as AddressInfo;
    // Parents (the Jupyter server extension) read this line to learn the port.
    console.log(`warden: listening on http://${address.address}:${address.port}`);
    service.events.info('service_started', { address: `${address.address}:${address.port}`, datasets: service.catalog.size, policies: service.config.policies.length });
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void service
      .close(() => {
        server.close();
        server.closeAllConnections();
      })
      .then(() => process.exit(0));
  };
  if (values['exit-with-stdin']) {
    process.stdin.on('end', stop).on('close', stop).resume();
  }
  // An explicit reload, for changes made in place (docs/configuration.md, "Deploying changes").
  process.on('SIGHUP', () => void service.reload());
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
