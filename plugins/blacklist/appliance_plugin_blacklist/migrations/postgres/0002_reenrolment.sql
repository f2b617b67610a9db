-- Re-enrolment after an embedding model change (reenrolment.py): a photo that gives no usable face
-- with the newer model, or whose file is gone, records the space it could not be enrolled into, so
-- that it is not tried again; it keeps its older embedding, which searches in the new space skip.
ALTER TABLE blacklist_person_images ADD COLUMN reenrol_failed_space TEXT;
