# npchat-relay: `make` prints this help.
.DEFAULT_GOAL := help
.PHONY: help install build test run lint clean bundle rootfs rootfs-test

help: ## Show the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

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

bundle: ## Build the one-file relay, dist/bundle/relay.mjs (esbuild)
	npm run build
	npm run bundle

rootfs: bundle ## Assemble the FROM scratch image layout in build/rootfs from this machine's node
	sh scripts/rootfs.sh build/rootfs "$$(command -v node)" dist/bundle

rootfs-test: rootfs ## Run the relay chrooted in build/rootfs as uid 10001 and check it from outside (root)
	node scripts/rootfs-test.mjs

clean: ## Remove build output
	rm -rf dist build
