# npchat-relay: `make` prints this help.
.DEFAULT_GOAL := help
.PHONY: help install build test run lint clean

help: ## Show the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: ## Install dependencies exactly as locked (npm ci)
	npm ci

build: ## Compile TypeScript to dist/
	npm run build

test: ## Build and run the whole test suite (npm test)
	npm test

run: build ## Run the relay on the embedded store (port 8000)
	node dist/main.js

lint: ## Typecheck, lint and check formatting (npm run check)
	npm run check

clean: ## Remove build output
	rm -rf dist
