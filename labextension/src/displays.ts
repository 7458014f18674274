/**
 * Display updates for outputs of cells that have finished running.
 *
 * JupyterLab applies `update_display_data` only to outputs of the cell whose
 * execution is still under way. A run card of civis_jupyter is shown with a
 * display id that it also puts in the output's metadata
 * (`civis_jupyter.display_id`) and is updated when its run ends, usually
 * later: this finds those outputs anywhere in the notebook and replaces them,
 * so that the saved notebook keeps the run's final state.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { KernelMessage } from '@jupyterlab/services';

/** What is used of a code cell's output list. */
interface IOutputs {
  readonly length: number;
  get(index: number): { data: unknown; metadata: unknown };
  set(index: number, output: Record<string, unknown>): void;
}

/** The display id an output's metadata names, if any. */
export function civisDisplayId(metadata: unknown): string | null {
  const ours = (metadata as { civis_jupyter?: { display_id?: unknown } } | null)?.civis_jupyter;
  return typeof ours?.display_id === 'string' ? ours.display_id : null;
}

/** Replace the outputs of a notebook that carry a display id; returns how many changed. */
export function applyDisplayUpdate(
  panel: NotebookPanel,
  content: { data: unknown; metadata: unknown }
): number {
  const id = civisDisplayId(content.metadata);
  const model = panel.content.model;
  if (!id || !model) {
    return 0;
  }
  let changed = 0;
  for (let c = 0; c < model.cells.length; c++) {
    const cell = model.cells.get(c);
    if (cell.type !== 'code') {
      continue;
    }
    const outputs = (cell as unknown as { outputs: IOutputs }).outputs;
    for (let i = 0; i < outputs.length; i++) {
      const output = outputs.get(i);
      if (civisDisplayId(output.metadata) !== id) {
        continue;
      }
      if (JSON.stringify(output.data) === JSON.stringify(content.data)) {
        continue; // already shown (e.g. updated by the running cell itself)
      }
      outputs.set(i, {
        output_type: 'display_data',
        data: content.data,
        metadata: content.metadata
      });
      changed++;
    }
  }
  return changed;
}

/** Follow a notebook's kernel messages and apply civis_jupyter's display updates. */
export function followDisplayUpdates(panel: NotebookPanel): void {
  panel.sessionContext.iopubMessage.connect((_, msg: KernelMessage.IMessage) => {
    if (msg.header.msg_type === 'update_display_data') {
      applyDisplayUpdate(panel, msg.content as { data: unknown; metadata: unknown });
    }
  });
}
