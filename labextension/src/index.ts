/**
 * civis-jupyter: the JupyterLab side of civis_jupyter.
 *
 * - SQL highlighting in %%civis_sql cells (from the moment a notebook opens);
 * - completion of database, schema, table and column names in those cells,
 *   answered by the kernel extension (`%load_ext civis_jupyter`);
 * - a "Civis runs" side panel with the current kernel's runs;
 * - run cards of finished cells brought to their run's final state.
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

import { CivisSqlCompletionProvider } from './completion';
import { followDisplayUpdates } from './displays';
import { mayHoldSql, SqlLanguage, sqlCellHighlighting } from './highlight';
import { RunsPanel } from './runs';

const highlighting: JupyterFrontEndPlugin<void> = {
  id: 'civis-jupyter:sql-highlighting',
  description: 'SQL highlighting in %%civis_sql cells.',
  autoStart: true,
  requires: [IEditorExtensionRegistry, IEditorLanguageRegistry],
  activate: (
    _app: JupyterFrontEnd,
    extensions: IEditorExtensionRegistry,
    languages: IEditorLanguageRegistry
  ) => {
    // Registered at once, so that editors made when a notebook opens get it;
    // the SQL language itself is loaded in the background.
    const spec = languages.findByName('sql') ?? languages.findByMIME('text/x-sql');
    const sql = new SqlLanguage(
      spec
        ? languages.getLanguage(spec.name).then(language => language?.support ?? null)
        : Promise.resolve(null)
    );
    extensions.addExtension({
      name: 'civis-jupyter:sql-cells',
      factory: options => {
        if (!mayHoldSql(options.model.mimeType)) {
          return null; // markdown cells are left alone
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

const displays: JupyterFrontEndPlugin<void> = {
  id: 'civis-jupyter:display-updates',
  description: 'Run cards in finished cells follow their run to its end.',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, tracker: INotebookTracker) => {
    tracker.widgetAdded.connect((_, panel) => followDisplayUpdates(panel));
    tracker.forEach(panel => followDisplayUpdates(panel));
  }
};

export default [highlighting, completion, runs, displays];
