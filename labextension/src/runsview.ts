/**
 * Rendering of the runs list (plain DOM, no JupyterLab imports: unit-tested).
 */
import { formatDuration, formatElapsed } from './sqlcell';

/** One run, as the kernel describes it (civis_jupyter/jupyter/runs.py). */
export interface IRun {
  job_id: number;
  run_id: number | null;
  /** The job's name, or its SQL's first line. */
  name: string;
  state: string;
  /** Whether the run is still queued or running. */
  live: boolean;
  created_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  /** Seconds from start to finish (ended runs). */
  duration: number | null;
  /** Seconds elapsed when the kernel sent this (live runs). */
  elapsed: number | null;
}

/** The time shown for a run: its duration, or the time elapsed so far (ticking). */
export function runTime(run: IRun, receivedAt: number, now: number = Date.now()): string {
  if (run.live) {
    if (run.elapsed === null) {
      return '-';
    }
    return formatElapsed(run.elapsed + Math.max(0, now - receivedAt) / 1000);
  }
  return formatDuration(run.duration);
}

function ids(run: IRun): string {
  return run.run_id === null ? `query ${run.job_id}` : `job ${run.job_id} · run ${run.run_id}`;
}

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
  const head = table.createTHead().insertRow();
  for (const [label, cls] of [
    ['Run', 'civis-runs-h-name'],
    ['State', 'civis-runs-h-state'],
    ['Time', 'civis-runs-h-time']
  ]) {
    const th = document.createElement('th');
    th.className = cls;
    th.textContent = label;
    if (cls === 'civis-runs-h-time') {
      th.title = 'Duration of ended runs; time so far of live ones';
    }
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const run of runs) {
    const row = body.insertRow();
    row.className = `civis-run-row civis-state-${run.state}`;
    row.dataset.jobId = String(run.job_id);
    row.dataset.runId = String(run.run_id);
    const name = row.insertCell();
    name.className = 'civis-run-name';
    name.textContent = run.name;
    name.title = `${run.name}\n${ids(run)}`;
    const stateCell = row.insertCell();
    stateCell.className = 'civis-run-state-cell';
    const state = document.createElement('span');
    state.className = 'civis-run-state';
    state.textContent = run.state;
    stateCell.appendChild(state);
    if (run.live) {
      // The only action, on live runs only: small, next to the state.
      const button = document.createElement('button');
      button.className = 'jp-Button civis-run-cancel';
      button.textContent = '✕';
      button.title = `Cancel ${ids(run)}`;
      button.setAttribute('aria-label', `Cancel ${ids(run)}`);
      button.onclick = () => {
        button.disabled = true;
        button.textContent = '…';
        onCancel(run);
      };
      stateCell.appendChild(button);
    }
    const time = row.insertCell();
    time.className = 'civis-run-elapsed';
    time.dataset.live = String(run.live);
    time.dataset.base = String(run.elapsed ?? '');
    time.dataset.duration = String(run.duration ?? '');
    time.textContent = runTime(run, receivedAt);
    if (!run.live && run.started_at && run.finished_at) {
      time.title = `${run.started_at} → ${run.finished_at}`;
    }
  }
  host.appendChild(table);
}
