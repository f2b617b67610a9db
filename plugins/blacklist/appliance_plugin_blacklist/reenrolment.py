"""Collections re-enrolled into the embedding space the face pipeline uses now, in the background.

Every photo keeps the embedding it was enrolled with, with its space and model (`name@version`);
a search compares only embeddings of the probe's space (index.py), so after an embedding model
change (a bundle that brings a better model) the photos of the older space are not searched until
they are enrolled again. This is the plugin's `background_work`: a maintenance worker runs it every
minute for a while (docs/collections.md, "A new embedding model"), a few photos at a time: each
photo's stored file goes through the face pipeline again and its embedding is replaced in the
same row, conditionally (a photo deleted or re-enrolled meanwhile is left alone), and the
collection's version is bumped so that its search files are rebuilt. A photo that gives no usable
face with the new model, or whose file is gone, is marked as failed for that space and not tried
again; it stays in its collection with its older embedding. `progress` gives, per collection,
how many photos are in the active space.
"""

from __future__ import annotations

import time

from appliance.sdk import ActiveEmbedding, MediaInput, MediaKind, PluginServices, WorkProgress
from appliance_plugin_blacklist.repository import CollectionRepository, PersonImage, Reembedded

__all__ = ["STEP", "Reenrolment"]

#: Photos embedded between two writes to the database.
STEP = 8


class Reenrolment:
    """The blacklist plugin's `BackgroundWork`."""

    def run(self, services: PluginServices, deadline: float) -> dict[str, int]:
        repository = CollectionRepository(services.db)
        active = services.active_embedding()
        counts = {"reenrolled": 0, "failed": 0}
        while time.monotonic() < deadline:
            images = repository.images_to_reenrol(active.space, STEP)
            if not images:
                break
            done: list[Reembedded] = []
            failed: list[tuple[PersonImage, str]] = []
            for image in images:
                embedded = _embed(services, image, active)
                if embedded is None:
                    failed.append((image, active.space))
                elif embedded.space != active.space:  # the model changed again meanwhile: the next run goes on
                    return counts
                else:
                    done.append(embedded)
            counts["reenrolled"] += repository.reembed(done, failed)
            counts["failed"] += len(failed)
        return counts

    def progress(self, services: PluginServices, collection_id: str | None = None) -> list[WorkProgress]:
        """Per collection with photos (or only `collection_id`): its photos in the active space."""
        repository = CollectionRepository(services.db)
        space = services.active_embedding().space
        found = []
        for counts in repository.reenrolment_counts(space, collection_id):
            collection = repository.get_collection(counts.collection_id)
            if collection is None:  # deleted meanwhile
                continue
            what = f"collection {collection.alias} ({collection.collection_id}): photos in {space}"
            found.append(WorkProgress(what, counts.in_space, counts.total, counts.failed))
        return found


def _embed(services: PluginServices, image: PersonImage, active: ActiveEmbedding) -> Reembedded | None:
    """The photo's embedding from its stored file with the active model; None when the file is gone
    or gives no usable face."""
    path = services.files.path(image.file.sha256, image.file.extension)
    if not path.is_file():
        return None
    media = MediaInput(
        media_id=f"reenrol-{image.person_image_id}", kind=MediaKind.IMAGE, tags=(), path=path, mime_type=image.mime_type
    )
    track = services.faces(media)
    if not track.comparable or track.embedding is None:
        return None
    return Reembedded(image, track.embedding.vector, track.embedding.space, track.embedding.model)
