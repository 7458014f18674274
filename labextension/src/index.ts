/**
 * civis-jupyter: the JupyterLab side of civis_jupyter.
 *
 * - SQL highlighting in %%civis_sql cells (from the moment a notebook opens);
 * - completion of database, schema, table and column names in those cells,
 *   answered by the kernel extension (`%load_ext civis_jupyter`);
 * - a "Civis runs" side panel with the current kernel's runs.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry,
  IEditorLanguageRegistry
} from '@jupyterlab/codemirror';
import { ICompletionProviderManager } from '@jupyterlab/completer';
import { INotebookTracker } from '@jupyterlab/notebook';
import { Extension } from '@codemirror/state';

import { CivisSqlCompletionProvider } from './completion';
import { isCodeMime, sqlCellHighlighting } from './highlight';
import { RunsPanel } from './runs';

const highlighting: JupyterFrontEndPlugin<void> = {
  id: 'civis-jupyter:sql-highlighting',
  description: 'SQL highlighting in %%civis_sql cells.',
  autoStart: true,
  requires: [IEditorExtensionRegistry, IEditorLanguageRegistry],
  activate: async (
    _app: JupyterFrontEnd,
    extensions: IEditorExtensionRegistry,
    languages: IEditorLanguageRegistry
  ) => {
    const spec = languages.findByName('sql') ?? languages.findByMIME('text/x-sql');
    if (!spec) {
      console.warn('civis-jupyter: no SQL language in this JupyterLab; no highlighting');
      return;
    }
    const loaded = await languages.getLanguage(spec.name);
    const sql: Extension | undefined = loaded?.support;
    if (!sql) {
      return;
    }
    extensions.addExtension({
      name: 'civis-jupyter:sql-cells',
      factory: options => {
        if (options.inline || !isCodeMime(options.model.mimeType)) {
          return null; // markdown and raw cells are left alone
        }
        return EditorExtensionRegistry.createImmutableExtension(
          sqlCellHighlighting(sql, options.model.sharedModel.getSource())
        );
      }
    });
  }
};

const completion: JupyterFrontEndPlugin<void> = {
  id: 'civis-jupyter:sql-completion',
  description: 'Completion of Civis names in %%civis_sql cells.',
  autoStart: true,
  requires: [ICompletionProviderManager],
  activate: (_app: JupyterFrontEnd, manager: ICompletionProviderManager) => {
    manager.registerProvider(new CivisSqlCompletionProvider());
  }
};

const runs: JupyterFrontEndPlugin<void> = {
  id: 'civis-jupyter:runs-panel',
  description: 'A side panel with the Civis runs of the current kernel.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILabShell],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, labShell: ILabShell | null) => {
    const panel = new RunsPanel(tracker);
    app.shell.add(panel, 'right', { rank: 900 });
    void labShell;
  }
};

export default [highlighting, completion, runs];
