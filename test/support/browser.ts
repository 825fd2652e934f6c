/** Debian's Chromium driven by playwright-core, as the dashboard tests and the benchmark use it. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { requireSystem } from './system.ts';

export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
];

/** Where tests leave screenshots for people to look at (not committed; see README for one). */
export const screenshotDir = path.resolve(import.meta.dirname, '..', '..', 'test-output', 'screenshots');

export const chromiumPath = () =>
  requireSystem('Chromium', ['/usr/bin/chromium', 'chromium'], 'apt-get install chromium');

export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, args: CHROMIUM_FLAGS, headless: true });
}

/** A fresh browser context logged in through the login page, on the technician screen. */
export async function loggedIn(
  browser: Browser,
  baseUrl: string,
  name: string,
  password: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  await page.goto(baseUrl);
  await page.waitForURL(/\/login/);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#link.online');
  return { context, page };
}

/** Where the README's pictures live: written by the tests when LOUPE_DOC_SCREENSHOTS=1, so a run can refresh them. */
export const docImagesDir = path.resolve(import.meta.dirname, '..', '..', 'docs', 'images');

/** A screenshot for people to look at; also into docs/images when `doc` is set and LOUPE_DOC_SCREENSHOTS=1. */
export async function screenshot(page: Page, name: string, doc = false): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file });
  if (doc && process.env.LOUPE_DOC_SCREENSHOTS === '1')
    await page.screenshot({ path: path.join(docImagesDir, `${name}.png`) });
  return file;
}

/** A fresh context at a given screen size, logged in, on the technician screen. */
export async function loggedInAt(
  browser: Browser,
  baseUrl: string,
  name: string,
  password: string,
  viewport: { width: number; height: number },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await page.goto(new URL('/login', baseUrl).href);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#link.online');
  return { context, page };
}
