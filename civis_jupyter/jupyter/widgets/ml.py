"""The live CivisML card: a run card that ends with the model's metrics and plots.

A :class:`ModelWidget` shows a :class:`~civis_jupyter.ml.ModelFuture`: while
the run goes, the run card of :mod:`.run` (state, elapsed time, log tail,
cancel); when a training run ends, a metrics card: the headline metrics, the
ROC curve and confusion matrix of a classifier or predicted against actual
values of a regressor, and the top feature importances or coefficients. Like
the run card it never polls: it subscribes to its future.

The card is HTML that reads the same live and saved: tables for the
confusion matrix and the features, and inline SVG plots drawn with
matplotlib when it is installed (without it the card says so). The plain
text form summarises the same numbers.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import ipywidgets as widgets
import traitlets

from .base import StaticFallback, escape, in_kernel_context
from .display import FollowedCard, show_followed
from .run import RunWidget

__all__ = ["ModelCard", "ModelWidget", "model_card", "show_model_future"]

#: Features shown in the importance chart.
TOP_FEATURES = 10
_CARD_STYLE = (
    "border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin-top:6px;"
    "font-size:90%;max-width:1100px"
)
_FIGURE_STYLE = "margin:0;display:inline-block;vertical-align:top"
_NO_MATPLOTLIB = "(plots need matplotlib: pip install 'civis-jupyter[ml]')"


# -- what the card says -------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def _nested(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _per_target(metrics: dict[str, Any], n_targets: int) -> list[dict[str, Any]]:
    """One metrics dict per target (CivisML lists every metric per target for several)."""
    if n_targets <= 1:
        return [metrics]
    return [
        {
            k: (v[t] if isinstance(v, list) and len(v) == n_targets else None)
            for k, v in metrics.items()
        }
        for t in range(n_targets)
    ]


def _class_names(data: dict[str, Any], target: int, n_targets: int) -> list[Any]:
    names = data.get("class_names") or []
    if n_targets > 1:
        names = names[target] if target < len(names) else []
    return list(names)


class ModelCard:
    """What a finished CivisML run shows: headline metrics, plots and features.

    Parameters
    ----------
    metadata : dict
        The run's ``model_info.json``.
    metrics : dict or None
        The training run's out-of-sample metrics (``None``: no validation).
    training : bool
        Whether the run trained (else it predicted).
    plots : bool, optional
        Draw the plots (needs matplotlib).
    """

    def __init__(
        self,
        metadata: dict[str, Any],
        metrics: dict[str, Any] | None,
        training: bool,
        plots: bool = True,
    ):
        self.metadata = metadata or {}
        self.metrics = metrics
        self.training = training
        self.plots = plots
        data = self.metadata.get("data") or {}
        self.targets = list(data.get("target_columns") or [])
        model = self.metadata.get("model") or {}
        self.kind = model.get("type")
        self.model_name = model.get("name") or "model"

    # -- pieces ---------------------------------------------------------------------
    def headline(self) -> str:
        """One line: the model, its targets and its data."""
        data = self.metadata.get("data") or {}
        target = ", ".join(map(str, self.targets)) or "?"
        if not self.training:
            rows = data.get("n_rows")
            return f"Predictions of {target}: {_fmt(rows)} rows scored" if rows else target
        parts = [f"{self.model_name} → {target}"]
        if data.get("n_rows") is not None:
            parts.append(f"{_fmt(data['n_rows'])} rows")
        if data.get("feature_columns") is not None:
            parts.append(f"{len(data['feature_columns'])} features")
        if self.kind:
            parts.append(str(self.kind))
        return " · ".join(parts)

    def headline_metrics(self, metrics: dict[str, Any]) -> list[tuple[str, Any]]:
        """(label, value) pairs of the metrics a reader looks at first."""
        if self.kind == "regression":
            keys = [("R²", "r_squared"), ("RMSE", "rmse"), ("MAE", "mae")]
        else:
            keys = [("ROC AUC", "roc_auc"), ("accuracy", "accuracy"), ("log loss", "log_loss")]
        pairs = []
        for label, key in keys:
            value = metrics.get(key)
            if isinstance(value, list):  # one per class: their mean
                numbers = [v for v in value if isinstance(v, (int, float))]
                value = sum(numbers) / len(numbers) if numbers else None
                label = f"{label} (mean over classes)"
            pairs.append((label, value))
        return pairs

    def features(self) -> list[tuple[str, float]]:
        """The top features by absolute importance (or coefficient)."""
        listed = _nested(self.metadata, "model", "feature_importances") or []
        pairs = [
            (str(f.get("name")), float(f["importance"]))
            for f in listed
            if isinstance(f, dict) and isinstance(f.get("importance"), (int, float))
        ]
        pairs.sort(key=lambda p: -abs(p[1]))
        return pairs[:TOP_FEATURES]

    def features_label(self) -> str:
        """``"coefficient"`` for linear models, else ``"importance"``."""
        coef = _nested(self.metadata, "model", "parameters", "coef")
        return "coefficient" if coef is not None else "importance"

    def sections(self) -> list[tuple[str | None, dict[str, Any], list[Any]]]:
        """(target name, its metrics, its class names) for each target."""
        if not self.metrics:
            return []
        n = max(1, len(self.targets))
        data = self.metadata.get("data") or {}
        names = self.targets or [None]
        return [
            (names[t] if n > 1 else None, m, _class_names(data, t, n))
            for t, m in enumerate(_per_target(self.metrics, n))
        ]

    # -- html -------------------------------------------------------------------------
    def html(self) -> str:
        """The card as HTML (inline SVG plots when matplotlib is installed)."""
        body = [f'<div style="margin-bottom:4px"><b>{escape(self.headline())}</b></div>']
        if not self.training:
            body.append(self._prediction_html())
        elif not self.metrics:
            body.append("<div>No validation metrics (validation was skipped).</div>")
        sections = self.sections()
        features = self.features() if self.training else []
        for target, metrics, classes in sections:
            if target is not None:
                body.append(f'<div style="margin-top:6px"><b>{escape(target)}</b></div>')
            body.append(_metrics_table(self.headline_metrics(metrics)))
            figures = self._figures(metrics, classes)
            if len(sections) == 1 and features:
                figures.append(_features_html(features, self.features_label()))
                features = []
            body.append(_row(figures))
        if features:
            body.append(_row([_features_html(features, self.features_label())]))
        return f'<div class="civis-model-card" style="{_CARD_STYLE}">{"".join(body)}</div>'

    def _prediction_html(self) -> str:
        data = self.metadata.get("data") or {}
        files = self.metadata.get("output_file_ids") or []
        columns = ", ".join(map(str, data.get("score_columns") or [])) or "-"
        return (
            f"<div>Score columns: {escape(columns)}</div>"
            f"<div>Output files: {escape(', '.join(map(str, files)) or '-')}</div>"
        )

    def _figures(self, metrics: dict[str, Any], classes: list[Any]) -> list[str]:
        figures = []
        if self.kind == "regression":
            grid = metrics.get("y_yhat_plot")
            if grid:
                figures.append(_figure(self._svg(_yhat_plot, grid), "Predicted against actual"))
        else:
            curves = metrics.get("roc_curve")
            if curves:
                figures.append(_figure(self._svg(_roc_plot, curves, classes), "ROC curve"))
            matrix = metrics.get("confusion_matrix")
            if matrix:
                figures.append(_figure(_confusion_html(matrix, classes), "Confusion matrix"))
        return figures

    def _svg(self, draw: Any, *args: Any) -> str:
        if not self.plots:
            return ""
        try:
            return _render_svg(draw, *args)
        except ImportError:
            return f"<div>{escape(_NO_MATPLOTLIB)}</div>"

    # -- text --------------------------------------------------------------------------
    def text(self) -> str:
        """The card as plain text."""
        lines = [self.headline()]
        if not self.training:
            data = self.metadata.get("data") or {}
            lines.append(f"score columns: {', '.join(map(str, data.get('score_columns') or []))}")
        for target, metrics, classes in self.sections():
            prefix = f"{target}: " if target is not None else "out of sample: "
            shown = [f"{label} {_fmt(value)}" for label, value in self.headline_metrics(metrics)]
            lines.append(prefix + ", ".join(shown))
            matrix = metrics.get("confusion_matrix")
            if matrix and self.kind != "regression":
                lines.extend(_confusion_text(matrix, classes))
        features = self.features()
        if features and self.training:
            listed = ", ".join(f"{name} {value:+.3g}" for name, value in features[:5])
            lines.append(f"top features ({self.features_label()}): {listed}")
        return "\n".join(lines)


def _metrics_table(pairs: Sequence[tuple[str, Any]]) -> str:
    cells = "".join(
        f'<td style="padding:2px 14px 2px 0"><span style="color:#57606a">{escape(label)}</span>'
        f"<br><b style='font-size:120%'>{escape(_fmt(value))}</b></td>"
        for label, value in pairs
    )
    return f'<table class="civis-model-metrics"><tr>{cells}</tr></table>'


def _row(parts: list[str]) -> str:
    if not parts:
        return ""
    return f'<div style="display:flex;flex-wrap:wrap;gap:18px">{"".join(parts)}</div>'


def _figure(content: str, caption: str) -> str:
    return (
        f'<figure style="{_FIGURE_STYLE}">{content}'
        f'<figcaption style="color:#57606a;text-align:center">{escape(caption)}</figcaption>'
        "</figure>"
    )


def _confusion_html(matrix: list[list[int]], classes: list[Any]) -> str:
    labels = classes if len(classes) == len(matrix) else list(range(len(matrix)))
    biggest = max((max(row) for row in matrix if row), default=0) or 1
    head = "".join(f'<th style="padding:2px 8px">{escape(c)}</th>' for c in labels)
    rows = []
    for label, row in zip(labels, matrix):
        cells = "".join(
            f'<td style="padding:4px 10px;text-align:right;'
            f'background:rgba(13,110,253,{0.08 + 0.6 * count / biggest:.2f})">{count:,}</td>'
            for count in row
        )
        rows.append(f'<tr><th style="padding:2px 8px">{escape(label)}</th>{cells}</tr>')
    return (
        '<table class="civis-confusion" style="border-collapse:collapse;margin:8px 0">'
        '<tr><th style="color:#57606a;font-weight:normal">true \\ predicted</th>'
        f"{head}</tr>{''.join(rows)}</table>"
    )


def _confusion_text(matrix: list[list[int]], classes: list[Any]) -> list[str]:
    labels = [str(c) for c in (classes if len(classes) == len(matrix) else range(len(matrix)))]
    width = max(len(f"{v:,}") for row in matrix for v in row)
    width = max(width, *(len(label) for label in labels))
    lines = ["confusion matrix (rows true, columns predicted):"]
    lines.append("  " + " " * width + " " + " ".join(label.rjust(width) for label in labels))
    for label, row in zip(labels, matrix):
        lines.append("  " + label.rjust(width) + " " + " ".join(f"{v:,}".rjust(width) for v in row))
    return lines


def _features_html(features: list[tuple[str, float]], label: str) -> str:
    biggest = max(abs(v) for _, v in features) or 1.0
    rows = []
    for name, value in features:
        colour = "#0d6efd" if value >= 0 else "#dc3545"
        width = max(1, round(160 * abs(value) / biggest))
        rows.append(
            f'<tr><td style="padding:1px 8px 1px 0;text-align:right">{escape(name)}</td>'
            f'<td><div style="background:{colour};height:10px;width:{width}px"></div></td>'
            f'<td style="padding-left:6px">{value:+.3g}</td></tr>'
        )
    return (
        f'<div style="{_FIGURE_STYLE}"><div><b>Top features</b> '
        f'<span style="color:#57606a">({escape(label)})</span></div>'
        f'<table class="civis-features">{"".join(rows)}</table></div>'
    )


# -- plots ------------------------------------------------------------------------------------


def _render_svg(draw: Any, *args: Any) -> str:
    """Draw on a new figure and return it as inline SVG (no pyplot, no global state)."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "civis", "font.size": 8}):
        figure = Figure(figsize=(3.0, 2.8), dpi=72)
        FigureCanvasSVG(figure)
        draw(figure.add_subplot(), *args)
        figure.tight_layout()
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    svg = out.getvalue()
    return svg[svg.find("<svg") :]


def _roc_plot(ax: Any, curves: Any, classes: list[Any]) -> None:
    labels: list[str | None]
    if isinstance(curves, dict):
        curves, labels = [curves], [None]
    else:
        labels = [str(c) for c in classes] if len(classes) == len(curves) else [None] * len(curves)
    for curve, label in zip(curves, labels):
        if curve:
            ax.plot(curve["fpr"], curve["tpr"], linewidth=1.5, label=label)
    ax.plot([0, 1], [0, 1], linestyle="--", color="#999999", linewidth=0.8)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    if any(labels):
        ax.legend(loc="lower right", fontsize=7)


def _yhat_plot(ax: Any, grid: dict[str, Any]) -> None:
    import numpy as np

    counts = np.asarray(grid["values"], dtype=float)
    n_y, n_yhat = counts.shape
    y_low = grid["y_range"][0] - grid["y_step"] / 2
    yhat_low = grid["yhat_range"][0] - grid["yhat_step"] / 2
    y_edges = y_low + grid["y_step"] * np.arange(n_y + 1)
    yhat_edges = yhat_low + grid["yhat_step"] * np.arange(n_yhat + 1)
    ax.pcolormesh(yhat_edges, y_edges, np.log1p(counts), cmap="Blues", shading="flat")
    low = min(y_edges[0], yhat_edges[0])
    high = max(y_edges[-1], yhat_edges[-1])
    ax.plot([low, high], [low, high], linestyle="--", color="#dc3545", linewidth=0.8)
    ax.set(xlim=(low, high), ylim=(low, high), xlabel="predicted", ylabel="actual")


# -- the widget ---------------------------------------------------------------------------------


def model_card(future: Any, plots: bool = True) -> ModelCard:
    """The card of a finished CivisML run.

    Parameters
    ----------
    future : ModelFuture
        A run that ended successfully.
    plots : bool, optional

    Returns
    -------
    ModelCard
    """
    metrics = future.metrics if future.is_training else None
    return ModelCard(future.metadata, metrics, bool(future.is_training), plots=plots)


def _title(future: Any) -> str:
    kind = "training" if getattr(future, "is_training", True) else "prediction"
    return f"CivisML {kind}"


class ModelWidget(StaticFallback, FollowedCard, widgets.VBox):
    """Live view of a CivisML run, ending with its metrics card.

    Parameters
    ----------
    future : civis_jupyter.ml.ModelFuture
    title : str, optional
        Shown in the run card's header (default: "CivisML training" or
        "CivisML prediction").
    log_lines : int, optional
        Log lines kept in the run card.
    plots : bool, optional
        Draw the plots (needs matplotlib).
    """

    card_html = traitlets.Unicode("").tag(sync=True)
    card_text = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        future: Any,
        title: str | None = None,
        log_lines: int = 200,
        plots: bool = True,
        **kwargs: Any,
    ):
        self.future = future
        self.plots = plots
        self.run = RunWidget(future, title=title or _title(future), log_lines=log_lines)
        self._card = widgets.HTML()
        self._lock = threading.RLock()
        self._ended_card = False
        self._unsubscribe: Any = lambda: None
        super().__init__(children=[self.run, self._card], **kwargs)
        self.add_class("civis-model")
        self._in_kernel = in_kernel_context()
        self._unsubscribe = future.subscribe(self._in_kernel(self._on_update))
        if future.done():
            self._on_update(future, None)

    # -- updates -----------------------------------------------------------------
    def _on_update(self, future: Any, response: Any) -> None:
        if not future.done():
            return
        with self._lock:
            if self._ended_card:
                return
            self._ended_card = True
            self._unsubscribe()
            if future.cancelled() or Future.exception(future, 0) is not None:
                return  # the run card shows the state and the error
            try:
                card = model_card(future, plots=self.plots)
                html, text = card.html(), card.text()
            except Exception as exc:  # the run succeeded; say why its results cannot be shown
                text = f"Could not read the model's results: {type(exc).__name__}: {exc}"
                html = f'<div style="color:#dc3545">{escape(text)}</div>'
            self._card.value = html
            self.card_text = text
            self.card_html = html  # last, so that watchers of card_html see the rest

    def refresh(self) -> None:
        """Bring the card up to date with the future now (e.g. before saving)."""
        self.run.refresh()
        self._on_update(self.future, getattr(self.future, "last_response", None))

    def cancel(self) -> bool:
        """Cancel the run (the Cancel button does the same).

        Returns
        -------
        bool
        """
        return self.run.cancel()

    def static_html(self) -> str:
        """The card as static HTML (for saved notebooks and reports)."""
        return f'<div class="civis-model-static">{self.run.static_html()}{self.card_html}</div>'

    def static_text(self) -> str:
        """The card as plain text."""
        text = self.run.static_text()
        return f"{text}\n{self.card_text}" if self.card_text else text


def show_model_future(future: Any, log_lines: int = 200, widgets_on: bool = True) -> None:
    """Display a ModelFuture as a card that follows it to its metrics.

    Parameters
    ----------
    future : ModelFuture
    log_lines : int, optional
        Log lines the card keeps.
    widgets_on : bool, optional
        ``False``: show the future's plain text instead.
    """
    show_followed(ModelWidget, future, log_lines, widgets_on)
