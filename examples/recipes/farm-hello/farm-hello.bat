@echo hello from farm-hello 1.0
