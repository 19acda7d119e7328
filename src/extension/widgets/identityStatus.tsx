import { TextItem } from '@jupyterlab/statusbar';
import type { TranslationBundle } from '@jupyterlab/translation';
import { VDomModel, VDomRenderer } from '@jupyterlab/ui-components';
import React from 'react';

import type { AttributeValue, Principal } from '../../common/api';
import { describeError } from '../handler';
import type { IWardenClient } from '../tokens';

/** "Warden: alice (analysts)": whom the service sees, and their attributes. */
export class IdentityStatus extends VDomRenderer<IdentityStatus.Model> {
  constructor(model: IdentityStatus.Model, trans: TranslationBundle) {
    super(model);
    this._trans = trans;
    this.addClass('jp-warden-identity');
  }

  protected render(): JSX.Element {
    const { principal, error } = this.model;
    const trans = this._trans;
    if (error) {
      return (
        <TextItem
          source={trans.__('Warden: unavailable')}
          title={describeError(error)}
        />
      );
    }
    if (!principal) {
      return <TextItem source={trans.__('Warden: …')} />;
    }
    return (
      <TextItem
        source={identityLabel(principal, trans)}
        title={attributesTooltip(principal, trans)}
      />
    );
  }

  private _trans: TranslationBundle;
}

export function identityLabel(
  principal: Principal,
  trans: TranslationBundle
): string {
  return principal.groups.length
    ? trans.__('Warden: %1 (%2)', principal.user, principal.groups.join(', '))
    : trans.__('Warden: %1', principal.user);
}

export function attributesTooltip(
  principal: Principal,
  trans: TranslationBundle
): string {
  const lines = Object.entries(principal.attributes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}: ${formatAttribute(value)}`);
  return lines.length
    ? [trans.__('Attributes seen by Warden:'), ...lines].join('\n')
    : trans.__('No attributes');
}

function formatAttribute(value: AttributeValue): string {
  return Array.isArray(value) ? value.join(', ') : String(value);
}

export namespace IdentityStatus {
  export class Model extends VDomModel {
    constructor(client: IWardenClient) {
      super();
      this._client = client;
    }

    get principal(): Principal | null {
      return this._principal;
    }

    get error(): Error | null {
      return this._error;
    }

    /** Ask the service who we are. Never rejects: failures land in `error`. */
    async refresh(): Promise<void> {
      try {
        this._principal = await this._client.whoami();
        this._error = null;
      } catch (error) {
        this._principal = null;
        this._error = error as Error;
      }
      this.stateChanged.emit();
    }

    private _client: IWardenClient;
    private _principal: Principal | null = null;
    private _error: Error | null = null;
  }
}
