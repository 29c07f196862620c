"""blockgemm-catalog generator: model shapes -> tuning / benchmark tasks -> site_data -> pages."""
