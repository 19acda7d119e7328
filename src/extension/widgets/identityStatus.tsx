import { TextItem } from '@jupyterlab/statusbar';
import type { TranslationBundle } from '@jupyterlab/translation';
import { VDomModel, VDomRenderer } from '@jupyterlab/ui-components';
import React from 'react';

import type { AttributeValue, Principal } from '../../common/api';
import { explainError } from '../errors';
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
          title={explainError(error, trans).reason}
        />
      );
    }
    if (!principal) {
      return <TextItem source={trans.__('Warden: …')} />;
    }
    return (
      <TextItem
        source={identityLabel(principal, trans)}
        title={identityTooltip(principal, trans)}
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

/** Everything policies can match on: the user, the groups and the attributes. */
export function identityTooltip(
  principal: Principal,
  trans: TranslationBundle
): string {
  const attributes = Object.entries(principal.attributes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `  ${key}: ${formatAttribute(value)}`);
  return [
    trans.__('Warden sees you as %1', principal.user),
    principal.groups.length
      ? trans.__('Groups: %1', principal.groups.join(', '))
      : trans.__('Groups: none'),
    ...(attributes.length
      ? [trans.__('Attributes:'), ...attributes]
      : [trans.__('Attributes: none')])
  ].join('\n');
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
