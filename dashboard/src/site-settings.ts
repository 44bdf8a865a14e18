import { getSnippet, getUsage, listSites, updateSite } from './api';
import { h, setChildren } from './dom';
import { eraseButton } from './erasure';
import { errorText } from './errors';
import { formatBytes, formatCount, formatDateTime } from './format';
import type { PageContext } from './page';
import { isAbort } from './page';
import { hashOf, sitePath } from './route';
import {
  DEFAULT_REDACT_PARAMS,
  MAX_NETWORK_BODY_URLS,
  MAX_REDACT_PARAMS,
  MAX_REDACT_PATTERNS,
  NETWORK_BODY_MAX_BYTES,
  NETWORK_BODY_URL_MAX_BYTES,
  REDACT_PARAM_MAX_BYTES,
  REDACT_PATTERN_MAX_BYTES,
  type SiteDetails,
  type SiteSettings,
} from './types';
import { checkName, checkSelector, parseDays, parseLines, parseOrigins, parseSamplePercent } from './validate';
import { copyButton, statusLine } from './widgets';

/** What a site records when nobody changed its settings (the tracker's defaults: everything, inputs masked). */
const DEFAULT_SETTINGS: SiteSettings = {
  sample_rate: 1,
  mask_all_inputs: true,
  mask_text: true,
  block_selector: '',
  honor_dnt: false,
  capture_console: true,
  capture_network: true,
  capture_errors: true,
  redact_params: [...DEFAULT_REDACT_PARAMS],
  network_body_urls: [],
  redact_patterns: [],
};

/**
 * A site's administration (admin): its name, allowed origins, the tracker
 * settings (sampling, masking of inputs and text, elements not recorded),
 * what it captures beside the DOM (console, network, errors, which query
 * parameters and patterns are redacted, whose bodies are kept; PROTOCOL.md
 * §7) and retention, saved with `PATCH /api/v1/sites/{id}` (connected trackers
 * get new settings within 5 s), and the install snippet to copy.
 */
export function renderSiteSettings(ctx: PageContext, siteId: number): void {
  const title = h('h1', null, 'Site settings');
  const status = statusLine('site-settings-status', 'Loading the site…');
  const body = h('div', { class: 'site-settings' });
  ctx.main.replaceChildren(
    h('p', { class: 'crumbs' }, h('a', { href: '#/sites' }, '← Sites'), ' · ', h('a', { href: hashOf(sitePath(siteId)) }, 'Sessions')),
    title,
    status.el,
    body,
  );
  listSites({ signal: ctx.signal }).then(
    ({ sites }) => {
      const site = (sites as SiteDetails[]).find((s) => s.id === siteId);
      if (!site) return status.error('No such site here: it does not exist, or you do not have access to it.');
      status.clear();
      title.textContent = `Site settings · ${site.name}`;
      setChildren(body, settingsForm(site), usageBox(ctx, site), eraseBox(ctx, siteId), snippetBox(ctx, siteId));
    },
    (e: unknown) => {
      if (!isAbort(e)) status.error(errorText(e, 'Could not load the site'));
    },
  );
}

function settingsForm(site: SiteDetails): HTMLElement {
  const settings = { ...DEFAULT_SETTINGS, ...site.settings };
  const status = statusLine('site-save-status');
  const name = h('input', { type: 'text', value: site.name, 'data-testid': 'settings-name' });
  const origins = h('textarea', { rows: 3, cols: 40, 'data-testid': 'settings-origins', placeholder: 'https://shop.example.com' });
  origins.value = site.allowed_origins.join('\n');
  const sample = h('input', {
    type: 'number',
    min: 0,
    max: 100,
    step: 'any',
    value: String(Math.round(settings.sample_rate * 10_000) / 100),
    'data-testid': 'settings-sample',
  });
  const maskInputs = h('input', { type: 'checkbox', checked: settings.mask_all_inputs, 'data-testid': 'settings-mask-inputs' });
  const maskText = h('input', { type: 'checkbox', checked: settings.mask_text, 'data-testid': 'settings-mask-text' });
  const honorDnt = h('input', { type: 'checkbox', checked: settings.honor_dnt, 'data-testid': 'settings-honor-dnt' });
  const block = h('input', { type: 'text', value: settings.block_selector, placeholder: '.private, [data-secret]', size: 30, 'data-testid': 'settings-block' });
  const captureConsole = h('input', { type: 'checkbox', checked: settings.capture_console, 'data-testid': 'settings-capture-console' });
  const captureNetwork = h('input', { type: 'checkbox', checked: settings.capture_network, 'data-testid': 'settings-capture-network' });
  const captureErrors = h('input', { type: 'checkbox', checked: settings.capture_errors, 'data-testid': 'settings-capture-errors' });
  const lines = (list: readonly string[], testid: string, placeholder: string) => {
    const area = h('textarea', { rows: 4, cols: 40, spellcheck: 'false', 'data-testid': testid, placeholder });
    area.value = list.join('\n');
    return area;
  };
  const redactParams = lines(settings.redact_params, 'settings-redact-params', 'token\npassword');
  const bodyUrls = lines(settings.network_body_urls, 'settings-network-body-urls', 'https://api.example.com/cart/*');
  const redactPatterns = lines(settings.redact_patterns, 'settings-redact-patterns', 'order-\\d{6}');
  const retention = h('input', {
    type: 'number',
    min: 1,
    step: 1,
    placeholder: 'unchanged',
    value: site.retention_days === undefined || site.retention_days === null ? '' : String(site.retention_days),
    'data-testid': 'settings-retention',
  });
  const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'settings-save' }, 'Save');
  const field = (label: string, control: HTMLElement, hint?: string) =>
    h('label', { class: 'field' }, h('span', null, label), control, hint ? h('small', { class: 'muted' }, hint) : null);
  const check = (control: HTMLInputElement, label: string, hint: string) =>
    h('label', { class: 'check' }, control, label, h('small', { class: 'muted' }, ` — ${hint}`));

  return h(
    'form',
    {
      class: 'card settings',
      novalidate: true,
      'data-testid': 'settings-form',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const checkedName = checkName(name.value, 'a name for the site');
        if (!checkedName.ok) return status.error(checkedName.error);
        const checkedOrigins = parseOrigins(origins.value);
        if (!checkedOrigins.ok) return status.error(checkedOrigins.error);
        const rate = parseSamplePercent(sample.value);
        if (!rate.ok) return status.error(rate.error);
        const selector = checkSelector(block.value, (s) => document.createDocumentFragment().querySelector(s));
        if (!selector.ok) return status.error(selector.error);
        const days = parseDays(retention.value, 'Retention');
        if (!days.ok) return status.error(days.error);
        const params = parseLines(redactParams.value, 'Query parameters to redact', {
          maxItems: MAX_REDACT_PARAMS,
          maxBytes: REDACT_PARAM_MAX_BYTES,
        });
        if (!params.ok) return status.error(params.error);
        const urls = parseLines(bodyUrls.value, 'Request bodies recorded for', {
          maxItems: MAX_NETWORK_BODY_URLS,
          maxBytes: NETWORK_BODY_URL_MAX_BYTES,
        });
        if (!urls.ok) return status.error(urls.error);
        // The node's regular expressions are not JavaScript's: it checks them.
        const patterns = parseLines(redactPatterns.value, 'Redaction rules', { maxItems: MAX_REDACT_PATTERNS, maxBytes: REDACT_PATTERN_MAX_BYTES });
        if (!patterns.ok) return status.error(patterns.error);
        save.disabled = true;
        try {
          await updateSite(site.id, {
            name: checkedName.value,
            origins: checkedOrigins.value,
            settings: {
              sample_rate: rate.value,
              mask_all_inputs: maskInputs.checked,
              mask_text: maskText.checked,
              block_selector: selector.value,
              honor_dnt: honorDnt.checked,
              capture_console: captureConsole.checked,
              capture_network: captureNetwork.checked,
              capture_errors: captureErrors.checked,
              redact_params: params.value,
              network_body_urls: urls.value,
              redact_patterns: patterns.value,
            },
            // Blank leaves the retention as it is.
            ...(days.value === null ? {} : { retention_days: days.value }),
          });
          // The lists as saved: trimmed, without blanks or repeats.
          redactParams.value = params.value.join('\n');
          bodyUrls.value = urls.value.join('\n');
          redactPatterns.value = patterns.value.join('\n');
          status.info('Saved. Connected trackers use the new settings within 5 seconds.');
        } catch (e) {
          status.error(errorText(e, 'Could not save'));
        } finally {
          save.disabled = false;
        }
      },
    },
    h('h2', null, 'Site'),
    field('Name', name),
    field('Allowed origins, one per line', origins, 'Blank: pages of any origin may record to this site.'),
    h('h2', null, 'Recording'),
    field('Sessions to record (%)', sample, '100 records every new session; 10 one in ten.'),
    check(maskInputs, 'Mask inputs', 'what visitors type is recorded as ***'),
    check(maskText, 'Mask text', 'emails and long numbers in the page are masked'),
    field('Do not record elements matching', block, 'A CSS selector; such elements show as empty boxes.'),
    check(honorDnt, 'Honour Do-Not-Track', 'browsers sending Do-Not-Track or Global Privacy Control are not recorded; copy the snippet again after changing it'),
    h('h2', null, 'Capture'),
    check(captureConsole, 'Record the console', 'console logs and errors, shown beside the replay'),
    check(captureNetwork, 'Record network requests', 'fetch, XMLHttpRequest and sendBeacon: method, URL, status, timing, sizes'),
    check(captureErrors, 'Record errors', 'uncaught errors and unhandled promise rejections, with stack, source, line and column'),
    field(
      'Query parameters to redact, one per line',
      redactParams,
      `Their values in recorded URLs show as [redacted]. At most ${MAX_REDACT_PARAMS} names of ${REDACT_PARAM_MAX_BYTES} bytes; blank: none.`,
    ),
    field(
      'Record request and response bodies for, one URL pattern per line',
      bodyUrls,
      `* matches anything; bodies are cut to ${formatBytes(NETWORK_BODY_MAX_BYTES)}. At most ${MAX_NETWORK_BODY_URLS} patterns of ${NETWORK_BODY_URL_MAX_BYTES} bytes; blank: no body is recorded.`,
    ),
    field(
      'Redaction rules, one regular expression per line',
      redactPatterns,
      `Text matching one in console lines, errors and requests is stored as [redacted], besides the built-in rules (emails, Bearer and Authorization values, card numbers). At most ${MAX_REDACT_PATTERNS} patterns of ${REDACT_PATTERN_MAX_BYTES} bytes.`,
    ),
    h('h2', null, 'Retention'),
    field('Keep recordings for (days)', retention, 'Recordings older than this are deleted.'),
    h('div', { class: 'actions' }, save),
    status.el,
  );
}

/** What the site stores now (PROTOCOL.md §6), beside its retention. */
function usageBox(ctx: PageContext, site: SiteDetails): HTMLElement {
  const text = h('p', { 'data-testid': 'site-usage' }, 'Loading…');
  getUsage(site.id, { signal: ctx.signal }).then(
    (u) => {
      const oldest = u.oldest_started_at === null ? 'none yet' : formatDateTime(u.oldest_started_at);
      text.textContent =
        `${formatCount(u.sessions)} recordings, ${formatBytes(u.raw_bytes)} recorded ` +
        `(${formatBytes(u.stored_bytes)} stored); oldest: ${oldest}; kept ${site.retention_days ?? 90} days.`;
    },
    (e: unknown) => {
      if (!isAbort(e)) text.textContent = errorText(e, 'Could not load the usage');
    },
  );
  return h('section', { class: 'card usage' }, h('h2', null, 'Usage'), text);
}

/** Erase a person by the user id their sessions were identified with, or their visitor id. */
function eraseBox(ctx: PageContext, siteId: number): HTMLElement {
  const kind = h(
    'select',
    { 'data-testid': 'erase-kind' },
    h('option', { value: 'user_id' }, 'User id'),
    h('option', { value: 'visitor_id' }, 'Visitor id'),
  );
  const value = h('input', { type: 'text', size: 30, 'data-testid': 'erase-id', placeholder: 'user-42' });
  const slot = h('div', null);
  const go = h('button', { type: 'button', 'data-testid': 'erase-next' }, 'Next');
  go.addEventListener('click', () => {
    const id = value.value.trim();
    if (id === '') return;
    const person = kind.value === 'user_id' ? { user_id: id } : { visitor_id: id };
    setChildren(slot, eraseButton(siteId, person, `${kind.value === 'user_id' ? 'user' : 'visitor'} ${id}`, ctx.signal, 'site-erase'));
  });
  return h(
    'section',
    { class: 'card erase' },
    h('h2', null, 'Erase a person'),
    h('p', { class: 'muted' }, 'Deletes every recording of one person on this site, live ones included, and shows the receipt.'),
    h('div', { class: 'copy-row' }, kind, value, go),
    slot,
  );
}

function snippetBox(ctx: PageContext, siteId: number): HTMLElement {
  const code = h('textarea', { readonly: true, rows: 3, cols: 80, class: 'snippet', 'data-testid': 'snippet' }, 'Loading…');
  const status = statusLine('snippet-status');
  getSnippet(siteId, { signal: ctx.signal }).then(
    ({ html }) => {
      code.value = html;
    },
    (e: unknown) => {
      if (isAbort(e)) return;
      code.value = '';
      status.error(errorText(e, 'Could not load the snippet'));
    },
  );
  return h(
    'section',
    { class: 'card install' },
    h('h2', null, 'Install'),
    h('p', null, 'Put this in the ', h('code', null, '<head>'), ' of every page of the site:'),
    h('div', { class: 'copy-row' }, code, copyButton(() => code.value, 'snippet-copy', 'Copy snippet')),
    status.el,
  );
}
