import { nullTranslator } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { DetailsBody } from '../panels/details/body';
import { DetailsModel } from '../panels/details/model';
import { CommandIDs } from '../tokens';
import {
  identityTooltip,
  identityLabel,
  IdentityStatus
} from '../widgets/identityStatus';
import { FakeClient, TRIAL_DETAIL, TRIAL_DETAIL_V2 } from './fixtures';

const trans = nullTranslator.load('test');

describe('DetailsModel', () => {
  it('fetches a dataset once, and again after invalidation', async () => {
    const client = new FakeClient();
    const model = new DetailsModel(client);
    await model.show(TRIAL_DETAIL.name);
    expect(model.status).toBe('ready');
    expect(model.detail?.owner).toBe('owner@example.com');
    await model.fetch(TRIAL_DETAIL.name);
    expect(client.calls).toEqual([`dataset:${TRIAL_DETAIL.name}`]);
    await model.invalidate();
    expect(client.calls).toHaveLength(2);
  });

  it('keeps the error, and retries a failed dataset', async () => {
    const client = new FakeClient();
    const model = new DetailsModel(client);
    await model.show('missing.table');
    expect(model.status).toBe('error');
    expect(model.error?.message).toBe('dataset "missing.table" not found');
    await model.show('missing.table');
    expect(client.calls).toEqual([
      'dataset:missing.table',
      'dataset:missing.table'
    ]);
  });

  it('ignores an answer for a dataset no longer shown', async () => {
    const client = new FakeClient();
    const model = new DetailsModel(client);
    const first = model.show(TRIAL_DETAIL.name);
    const second = model.show(null);
    await Promise.all([first, second]);
    expect(model.name).toBeNull();
    expect(model.detail).toBeNull();
    expect(model.status).toBe('idle');
  });
});

describe('DetailsBody', () => {
  async function render(model: DetailsModel, commands = new CommandRegistry()) {
    const body = new DetailsBody({ model, commands, trans });
    Widget.attach(body, document.body);
    MessageLoop.sendMessage(body, Widget.Msg.UpdateRequest);
    await body.renderPromise;
    return body;
  }

  it('shows access, reason, cell masks and row filter per column', async () => {
    const model = new DetailsModel(new FakeClient());
    await model.show(TRIAL_DETAIL.name);
    const body = await render(model);
    const details = body.node.querySelector<HTMLElement>('.jp-warden-details')!;
    expect(details.dataset.wardenDataset).toBe(TRIAL_DETAIL.name);

    const rows = Array.from(
      details.querySelectorAll<HTMLElement>('.jp-warden-column-row')
    );
    expect(
      rows.map(r => [r.dataset.wardenColumn, r.dataset.wardenAccess])
    ).toEqual([
      ['patient_id', 'clear'],
      ['ssn', 'masked'],
      ['birth_date', 'hidden'],
      ['adverse_events', 'clear']
    ]);
    expect(rows[1].querySelector('.jp-warden-access-masked')?.textContent).toBe(
      'masked'
    );
    expect(rows[1].textContent).toContain('keyed SHA-256 hash');
    expect(rows[1].textContent).toContain(
      'by policy mask-direct-pii, because of tag pii.direct'
    );
    // Descriptions are shown, not only in tooltips.
    expect(
      rows[1].querySelector('.jp-warden-column-description')?.textContent
    ).toBe('US social security number');
    expect(rows[0].querySelector('.jp-warden-column-description')).toBeNull();
    // The owner's email may wrap at its @ only, never at a hyphen.
    expect(
      Array.from(
        details.querySelectorAll('.jp-warden-details-owner .jp-warden-unbroken')
      ).map(part => part.textContent)
    ).toEqual(['owner', '@example.com']);
    expect(rows[2].querySelector('.jp-warden-access-hidden')).not.toBeNull();
    // The badge says hidden; the word is not repeated next to it.
    expect(rows[2].textContent!.match(/hidden/gi)).toHaveLength(1);
    expect(rows[3].dataset.wardenCellMasked).toBe('true');
    // Withheld, as the preview and the Python client get those cells; the
    // mask's own value is for API reads without indicators.
    const cellMask = rows[3].querySelector<HTMLElement>('.jp-warden-cell-mask')!;
    expect(cellMask.textContent).toContain("withheld where arm = 'placebo'");
    expect(cellMask.title).toBe(
      "API reads without mask indicators get: replaced by '[withheld]'"
    );
    expect(
      details.querySelector('.jp-warden-row-filter')?.textContent
    ).toContain("You see rows where country = 'US'.");
    body.dispose();
  });

  it('keeps the dataset shown while it reloads, then says what changed in its view', async () => {
    const client = new FakeClient();
    const model = new DetailsModel(client);
    await model.show(TRIAL_DETAIL.name);
    const body = await render(model);
    expect(body.node.querySelector('.jp-warden-view-update')).toBeNull();

    client.details.set(TRIAL_DETAIL.name, TRIAL_DETAIL_V2);
    const reloading = model.invalidate();
    // The old view stays readable until the new one is there.
    expect(model.detail).toBe(TRIAL_DETAIL);
    await reloading;
    MessageLoop.sendMessage(body, Widget.Msg.UpdateRequest);
    await body.renderPromise;
    const notice = body.node.querySelector<HTMLElement>('.jp-warden-view-update')!;
    expect(notice.getAttribute('role')).toBe('status');
    expect(
      Array.from(notice.querySelectorAll('li')).map(li => li.textContent)
    ).toEqual([
      'ssn: now clear',
      'adverse_events: no cells withheld any more',
      'rows: now all of them'
    ]);
    const access = (column: string) =>
      body.node.querySelector<HTMLElement>(
        `.jp-warden-column-row[data-warden-column="${column}"]`
      )!.dataset.wardenAccess;
    expect(access('ssn')).toBe('clear');

    // Another dataset shown: the notice was about the one before.
    await model.show(null);
    await model.show(TRIAL_DETAIL.name);
    expect(model.lastChange).toBeNull();
    body.dispose();
  });

  it('runs the preview and insert commands for the shown dataset', async () => {
    const commands = new CommandRegistry();
    const executed: unknown[] = [];
    for (const id of [CommandIDs.preview, CommandIDs.insertSnippet]) {
      commands.addCommand(id, {
        execute: args => void executed.push([id, args])
      });
    }
    const model = new DetailsModel(new FakeClient());
    await model.show(TRIAL_DETAIL.name);
    const body = await render(model, commands);
    body.node
      .querySelector<HTMLButtonElement>('.jp-warden-insert-button')!
      .click();
    body.node
      .querySelector<HTMLButtonElement>('.jp-warden-preview-button')!
      .click();
    expect(executed).toEqual([
      [CommandIDs.insertSnippet, { dataset: TRIAL_DETAIL.name }],
      [CommandIDs.preview, { dataset: TRIAL_DETAIL.name }]
    ]);
    body.dispose();
  });

  it('offers every snippet flavour under the split button', async () => {
    const commands = new CommandRegistry();
    const executed: unknown[] = [];
    commands.addCommand(CommandIDs.insertSnippet, {
      label: args => `as ${args.flavour}`,
      execute: args => void executed.push(args)
    });
    const model = new DetailsModel(new FakeClient());
    await model.show(TRIAL_DETAIL.name);
    const body = await render(model, commands);
    body.node
      .querySelector<HTMLButtonElement>('.jp-warden-flavour-button')!
      .click();
    const items = Array.from(
      document.querySelectorAll<HTMLElement>(
        '.jp-warden-flavour-menu .lm-Menu-item'
      )
    );
    expect(items.map(item => item.textContent)).toEqual([
      'as pandas',
      'as arrow',
      'as polars'
    ]);
    body.dispose();
    expect(document.querySelector('.jp-warden-flavour-menu')).toBeNull();
  });

  it('disables the actions while the catalog cannot be loaded', async () => {
    const model = new DetailsModel(new FakeClient());
    await model.show(TRIAL_DETAIL.name);
    model.actionsEnabled = false;
    const body = await render(model);
    const buttons = Array.from(
      body.node.querySelectorAll<HTMLButtonElement>(
        '.jp-warden-details-actions button'
      )
    );
    const unavailable = 'Unavailable while the catalog cannot be loaded';
    expect(
      buttons.map(b => [b.getAttribute('aria-label') ?? b.textContent, b.disabled, b.title])
    ).toEqual([
      ['Insert snippet', true, unavailable],
      ['Insert as…', true, unavailable],
      ['Preview', true, unavailable]
    ]);
    model.actionsEnabled = true;
    MessageLoop.sendMessage(body, Widget.Msg.UpdateRequest);
    await body.renderPromise;
    expect(buttons.every(b => !b.disabled)).toBe(true);
    body.dispose();
  });
});

describe('identity status', () => {
  const principal = {
    user: 'alice',
    groups: ['analysts', 'eu'],
    attributes: { region: 'US', countries: ['US', 'CA'], clearance: 2 }
  };

  it('names the user and groups, and lists attributes in the tooltip', () => {
    expect(identityLabel(principal, trans)).toBe(
      'Warden: alice (analysts, eu)'
    );
    expect(identityLabel({ ...principal, groups: [] }, trans)).toBe(
      'Warden: alice'
    );
    expect(identityTooltip(principal, trans)).toBe(
      'Warden sees you as alice\nGroups: analysts, eu\nAttributes:\n  clearance: 2\n  countries: US, CA\n  region: US'
    );
    // Compliance has a group and no attributes: say so, rather than "No attributes".
    expect(
      identityTooltip({ user: 'cora', groups: ['compliance'], attributes: {} }, trans)
    ).toBe('Warden sees you as cora\nGroups: compliance\nAttributes: none');
  });

  it('asks the service once per refresh and keeps failures', async () => {
    const client = new FakeClient();
    const model = new IdentityStatus.Model(client);
    await model.refresh();
    expect(model.principal?.user).toBe('alice');
    client.whoami = () => Promise.reject(new Error('down'));
    await model.refresh();
    expect(model.principal).toBeNull();
    expect(model.error?.message).toBe('down');
  });
});
