/**
 * Completion of database, schema, table and column names in %%civis_sql cells.
 */
import {
  CompletionHandler,
  ICompletionContext,
  ICompletionProvider
} from '@jupyterlab/completer';
import { NotebookPanel } from '@jupyterlab/notebook';
import { Kernel } from '@jupyterlab/services';

import { NamesClient } from './kernelcomm';
import { completionTarget } from './sqlcell';

/** The completion provider registered with JupyterLab's completer manager. */
export class CivisSqlCompletionProvider implements ICompletionProvider {
  readonly identifier = 'civis-jupyter:sql-names';
  readonly rank = 900;

  async isApplicable(context: ICompletionContext): Promise<boolean> {
    return context.widget instanceof NotebookPanel && !!context.editor;
  }

  async fetch(
    request: CompletionHandler.IRequest,
    context: ICompletionContext
  ): Promise<CompletionHandler.ICompletionItemsReply> {
    const empty = { start: request.offset, end: request.offset, items: [] };
    const target = completionTarget(request.text, request.offset);
    const panel = context.widget as NotebookPanel;
    const kernel = panel.sessionContext.session?.kernel;
    if (!target || !kernel) {
      return empty;
    }
    const names = await this._client(kernel).names({
      request: target.request,
      database: target.database,
      schema: target.schema,
      table: target.table
    });
    if (names.hint) {
      // Shown in the popup; choosing it leaves the text as it is.
      return {
        start: target.start,
        end: request.offset,
        items: [{ label: names.hint, insertText: target.prefix, type: 'hint' }]
      };
    }
    const prefix = target.prefix.toLowerCase();
    const type = target.request.replace(/s$/, '');
    return {
      start: target.start,
      end: request.offset,
      items: names.items
        .filter(name => name.toLowerCase().startsWith(prefix))
        .map(name => ({ label: name, insertText: name, type }))
    };
  }

  private _client(kernel: Kernel.IKernelConnection): NamesClient {
    let client = this._clients.get(kernel.id);
    if (!client) {
      client = new NamesClient(kernel);
      this._clients.set(kernel.id, client);
    }
    return client;
  }

  private _clients = new Map<string, NamesClient>();
}
