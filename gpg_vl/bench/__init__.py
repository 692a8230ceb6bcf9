"""Side-by-side benchmark of gpg-vl against TRL's GRPOTrainer (issue 6); ``gpg-vl bench``."""
