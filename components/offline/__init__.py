"""The program without a cloud: the mocks engine, the offline plan and the cloud-limit checks."""
