import { nullTranslator } from '@jupyterlab/translation';
import { CommandRegistry } from '@lumino/commands';
import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { DetailsBody } from '../panels/details/body';
import { DetailsModel } from '../panels/details/model';
import { CommandIDs } from '../tokens';
import {
  attributesTooltip,
  identityLabel,
  IdentityStatus
} from '../widgets/identityStatus';
import { FakeClient, TRIAL_DETAIL } from './fixtures';

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
    expect(model.error?.message).toBe('no such dataset missing.table');
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
    expect(rows[2].querySelector('.jp-warden-access-hidden')).not.toBeNull();
    expect(rows[3].dataset.wardenCellMasked).toBe('true');
    expect(rows[3].textContent).toContain(
      "replaced by '[withheld]' where arm = 'placebo'"
    );
    expect(
      details.querySelector('.jp-warden-row-filter')?.textContent
    ).toContain("You see rows where country = 'US'.");
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
    expect(attributesTooltip(principal, trans)).toBe(
      'Attributes seen by Warden:\nclearance: 2\ncountries: US, CA\nregion: US'
    );
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
