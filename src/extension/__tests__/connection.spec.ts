import { nullTranslator } from '@jupyterlab/translation';

import { isUnavailable, ServiceConnection } from '../connection';
import { explainError } from '../errors';
import { WardenRequestError } from '../handler';

const trans = nullTranslator.load('test');
const down = () =>
  new WardenRequestError(
    'service_unavailable',
    'The Warden service exited unexpectedly with code 0. Last output:\n  /srv/warden/config: reload failed',
    503
  );

describe('ServiceConnection', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** Let the probe's promise settle after its timer fired. */
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await Promise.resolve();
    }
  };

  it('probes only while down, backing off, until the service answers', async () => {
    const answers: (Error | null)[] = [down(), down(), down(), null];
    const probe = jest.fn(async () => {
      const answer = answers.shift();
      if (answer) {
        throw answer;
      }
    });
    const connection = new ServiceConnection({
      probe,
      firstDelayMs: 100,
      maxDelayMs: 300
    });
    const seen: string[] = [];
    connection.changed.connect((_, status) => seen.push(status));

    connection.succeeded();
    connection.failed(new WardenRequestError('forbidden', 'no', 403));
    jest.advanceTimersByTime(10_000);
    expect(probe).not.toHaveBeenCalled();
    expect(connection.status).toBe('up');

    connection.failed(down());
    connection.failed(down());
    expect(connection.status).toBe('down');
    expect(seen).toEqual(['down']);

    // Delays 100, 200, 300 (capped), 300: the fourth probe answers.
    const probesAfter = async (ms: number) => {
      jest.advanceTimersByTime(ms);
      await settle();
      return probe.mock.calls.length;
    };
    expect(await probesAfter(99)).toBe(0);
    expect(await probesAfter(1)).toBe(1);
    expect(await probesAfter(199)).toBe(1);
    expect(await probesAfter(1)).toBe(2);
    expect(await probesAfter(300)).toBe(3);
    expect(await probesAfter(300)).toBe(4);
    expect(connection.status).toBe('up');
    expect(seen).toEqual(['down', 'up']);

    expect(await probesAfter(60_000)).toBe(4);
    connection.dispose();
  });

  it('comes back up on any answered request, and stops probing', async () => {
    const probe = jest.fn(async () => {
      throw down();
    });
    const connection = new ServiceConnection({ probe, firstDelayMs: 100 });
    connection.failed(down());
    connection.failed(new WardenRequestError('not_found', 'gone', 404));
    expect(connection.status).toBe('up');
    jest.advanceTimersByTime(10_000);
    await settle();
    expect(probe).not.toHaveBeenCalled();
    connection.dispose();
  });
});

describe('explainError', () => {
  it('keeps the server output of an outage out of the sentence', () => {
    const explained = explainError(down(), trans);
    expect(isUnavailable(down())).toBe(true);
    expect(explained.transient).toBe(true);
    expect(explained.reason).toBe(
      'The Warden service is not answering, perhaps restarting. This recovers by itself when it is back.'
    );
    expect(explained.reason).not.toMatch(/exited|code|\//);
    expect(explained.detail).toContain('exited unexpectedly with code 0');
    expect(
      explainError(new WardenRequestError('network_error', 'fetch failed'), trans)
        .reason
    ).toMatch(/^JupyterLab cannot reach its server/);
  });

  it('shows the service refusals as they are, the code apart', () => {
    const explained = explainError(
      new WardenRequestError('forbidden', 'alice may not read sales.orders', 403),
      trans
    );
    expect(explained).toEqual({
      reason: 'alice may not read sales.orders',
      detail: 'forbidden (HTTP 403)',
      transient: false
    });
    expect(explainError(new Error('boom'), trans)).toEqual({
      reason: 'boom',
      detail: null,
      transient: false
    });
  });
});
