/**
 * Rendering of the runs list (plain DOM, no JupyterLab imports: unit-tested).
 */
import { formatElapsed } from './sqlcell';

/** One run, as the kernel describes it. */
export interface IRun {
  job_id: number;
  run_id: number | null;
  name: string;
  state: string;
  started_at: string | null;
  elapsed: number | null;
  url: string | null;
}

const LIVE = new Set(['queued', 'running']);

/** Render the runs into a container (plain DOM; used by the panel and tests). */
export function renderRuns(
  host: HTMLElement,
  runs: IRun[],
  receivedAt: number,
  onCancel: (run: IRun) => void
): void {
  host.textContent = '';
  if (!runs.length) {
    const empty = document.createElement('p');
    empty.className = 'civis-runs-empty';
    empty.textContent = 'No Civis runs in this kernel yet.';
    host.appendChild(empty);
    return;
  }
  const table = document.createElement('table');
  table.className = 'civis-runs-table';
  for (const run of runs) {
    const row = table.insertRow();
    row.className = `civis-run-row civis-state-${run.state}`;
    row.dataset.jobId = String(run.job_id);
    const name = row.insertCell();
    name.textContent = run.name;
    const state = row.insertCell();
    state.className = 'civis-run-state';
    state.textContent = run.state;
    const elapsed = row.insertCell();
    elapsed.className = 'civis-run-elapsed';
    const base = run.elapsed ?? 0;
    const live = LIVE.has(run.state);
    elapsed.dataset.base = String(base);
    elapsed.dataset.live = String(live);
    elapsed.textContent = formatElapsed(live ? base + (Date.now() - receivedAt) / 1000 : base);
    const action = row.insertCell();
    if (live && run.run_id !== null) {
      const button = document.createElement('button');
      button.className = 'jp-Button civis-run-cancel';
      button.textContent = 'Cancel';
      button.onclick = () => {
        button.disabled = true;
        onCancel(run);
      };
      action.appendChild(button);
    }
  }
  host.appendChild(table);
}

