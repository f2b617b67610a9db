"""Reading Prometheus text the way a scraper does (prometheus_client's parser), for the metrics tests."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape"]


@dataclass(frozen=True)
class Scrape:
    """The samples of one scrape: sample name -> [(labels, value)]."""

    samples: dict[str, list[tuple[dict[str, str], float]]]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return cls(samples)

    def value(self, name: str, **labels: str) -> float:
        """The sample of `name` with exactly `labels`; 0 when absent (a labelled series not yet recorded)."""
        matching = [value for found, value in self.samples.get(name, []) if found == labels]
        assert len(matching) <= 1, f"{name}{labels} appears {len(matching)} times"
        return matching[0] if matching else 0.0

    def by(self, name: str, *label_names: str) -> dict[tuple[str, ...], float]:
        """Every sample of `name`, keyed by the values of `label_names`, zeros left out."""
        return {tuple(labels[n] for n in label_names): value for labels, value in self.samples.get(name, []) if value}
