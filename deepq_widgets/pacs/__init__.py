"""The hospital's PACS as a data source: studies found by a DICOMweb query (QIDO-RS), fetched (WADO-RS),
de-identified on the way in, and written as a study dataset (`deepq pacs`, the dashboard's PACS panel).

- `server.py`: where the server is and who asks (credentials from the environment or a prompt, never a file);
- `search.py`: a query by patient, date, modality, description or accession, paged, with a limit;
- `deidentify.py`: the DICOM PS3.15 basic profile (dicognito), UIDs remapped the same way on every run;
- `importer.py`: studies into a dataset folder, one at a time, resumable, nothing half-written left in it.
"""
