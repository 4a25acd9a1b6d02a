import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

/** Debian's chromium (`.ci/run` installs it); playwright-core brings no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * One headless Chromium for a suite: launched before its tests, closed after them. Background networking, QUIC and
 * updates are off so the only traffic is the test's own (to the local stand-ins). Returns a getter: the browser exists
 * only once beforeAll has run.
 */
export function headlessChromiumForSuite(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('the browser is launched in beforeAll');
    return browser;
  };
}
