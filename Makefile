# handoff: build, run, test. `make` (or `make help`) lists the targets.
#
# The build-<LogicalId> targets are what `sam build` calls for each function
# (template.yaml: Metadata BuildMethod makefile, CodeUri .), with ARTIFACTS_DIR
# set to the directory the function's bootstrap must land in.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# name:LogicalId of every function; functions/<name> holds its main package.
FUNCTIONS := intake:IntakeFunction ehr:EhrFunction consent:ConsentFunction respond:RespondFunction \
	admin:AdminFunction dispatch:DispatchFunction sesevents:SesEventsFunction \
	smsevents:SmsEventsFunction clinic:ClinicFunction
BUILD_DIR := build
FUZZTIME ?= 60s
FUZZPKGS ?= ./...
# staticcheck 2026.2.2 is module version v0.8.2.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
NODE_MODULES := infra/ses/node_modules
# local-kms (KMS for the local stack and the sealing tests), pinned.
LOCAL_KMS := $(BUILD_DIR)/tools/local-kms
LOCAL_KMS_VERSION := v0.0.0-20260228092603-2a5e92d09ab6

.PHONY: help build build-IntakeFunction build-EhrFunction build-ConsentFunction build-RespondFunction \
	build-AdminFunction build-DispatchFunction build-SesEventsFunction build-SmsEventsFunction build-ClinicFunction node_modules \
	run test lint cover bench bench-match-100k bench-import bench-import-10k fuzz coldstart coldstart-arm64 soak load clean tools

help: ## List the targets
	@echo "handoff targets:"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{ printf "  %-24s %s\n", $$1, $$2 }'

# ---------------------------------------------------------------- build

build-IntakeFunction: ## SAM: build functions/intake into $(ARTIFACTS_DIR)/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $(ARTIFACTS_DIR)/bootstrap ./functions/intake

build-EhrFunction: ## SAM: build functions/ehr into $(ARTIFACTS_DIR)/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $(ARTIFACTS_DIR)/bootstrap ./functions/ehr

build-ConsentFunction: ## SAM: build functions/consent into $(ARTIFACTS_DIR)/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $(ARTIFACTS_DIR)/bootstrap ./functions/consent

build-RespondFunction: ## SAM: build functions/respond into $(ARTIFACTS_DIR)/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $(ARTIFACTS_DIR)/bootstrap ./functions/respond

build-AdminFunction: ## SAM: build functions/admin into $(ARTIFACTS_DIR)/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $(ARTIFACTS_DIR)/bootstrap ./functions/admin

build-DispatchFunction: ## SAM: build functions/dispatch into $(ARTIFACTS_DIR)/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $(ARTIFACTS_DIR)/bootstrap ./functions/dispatch

build-SesEventsFunction: ## SAM: build functions/sesevents into $(ARTIFACTS_DIR)/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $(ARTIFACTS_DIR)/bootstrap ./functions/sesevents

build-SmsEventsFunction: ## SAM: build functions/smsevents into $(ARTIFACTS_DIR)/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $(ARTIFACTS_DIR)/bootstrap ./functions/smsevents

build-ClinicFunction: ## SAM: build functions/clinic into $(ARTIFACTS_DIR)/bootstrap
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -buildid=' -o $(ARTIFACTS_DIR)/bootstrap ./functions/clinic

build: ## Build every function into build/<name>/bootstrap and build/<name>.zip; print sizes and SHA-256
	@for f in $(FUNCTIONS); do \
		name=$${f%%:*}; id=$${f##*:}; \
		echo "build $$name ($$id)"; \
		$(MAKE) build-$$id ARTIFACTS_DIR=$(CURDIR)/$(BUILD_DIR)/$$name; \
	done
	@go run ./infra/cmd/lambdazip -arch arm64 $(foreach f,$(FUNCTIONS),$(BUILD_DIR)/$(firstword $(subst :, ,$(f))))

# ---------------------------------------------------------------- local tools

tools: $(LOCAL_KMS) ## Install local-kms (pinned) into build/tools

$(LOCAL_KMS):
	GOBIN=$(CURDIR)/$(BUILD_DIR)/tools go install github.com/nsmithuk/local-kms@$(LOCAL_KMS_VERSION)

node_modules: $(NODE_MODULES) ## Install the pinned SES emulator and axe-core (infra/ses)

$(NODE_MODULES): infra/ses/package.json infra/ses/package-lock.json
	cd infra/ses && npm ci --no-audit --no-fund
	@touch $@

# ---------------------------------------------------------------- run and check

run: $(NODE_MODULES) $(LOCAL_KMS) ## Run the local stack (API, DynamoDB, SES emulator) on 127.0.0.1
	go build -o $(BUILD_DIR)/handoff ./infra/cmd/handoff
	./$(BUILD_DIR)/handoff run

# Every test process records the AWS calls its functions make into
# $(AWS_CALLS); iamcheck then proves each allowed by its function's role in
# template.yaml and lists the grants no call used (infra/iamcheck).
AWS_CALLS := $(BUILD_DIR)/awscalls

# go vet runs every analyzer over the tree; go test's own vet pass (a subset
# of them) would only check it all again, so it is off.
test: $(NODE_MODULES) $(LOCAL_KMS) ## Run every test (go vet, go test, then the IAM check of every AWS call the tests made)
	go vet ./...
	rm -rf $(AWS_CALLS)
	HANDOFF_AWS_CALLS=$(CURDIR)/$(AWS_CALLS) go test -count=1 -vet=off -timeout 15m ./...
	go run ./infra/cmd/iamcheck -calls $(AWS_CALLS)

lint: $(NODE_MODULES) ## gofmt, go vet, staticcheck, Redocly's OpenAPI lint, cfn-lint on template.yaml when installed, cfn-guard's Control Tower rules
	@unformatted=$$(find . -name '*.go' -not -path './$(BUILD_DIR)/*' -not -path './.aws-sam/*' \
		-not -path '*/node_modules/*' -not -path './.git/*' -print0 | xargs -0 -r gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go run $(STATICCHECK) ./...
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(NODE_MODULES)/.bin/redocly lint --format=stylish
	@if command -v cfn-lint >/dev/null; then echo "cfn-lint template.yaml"; cfn-lint template.yaml; \
	else echo "cfn-lint not installed: template lint skipped (go test ./infra/templatetest still checks it)"; fi
	go run ./infra/cmd/guard

cover: $(NODE_MODULES) $(LOCAL_KMS) ## Coverage per package, counting code any package's tests exercise (-coverpkg=./...); profile in build/cover.out
	@mkdir -p $(BUILD_DIR)
	go test -count=1 -timeout 30m -coverpkg=./... -coverprofile=$(BUILD_DIR)/cover.out ./... >$(BUILD_DIR)/cover.log 2>&1 \
		|| { tail -40 $(BUILD_DIR)/cover.log; exit 1; }
	@# A block is covered when any test binary ran it; statements are summed per package.
	@awk -F'[ ]' 'NR > 1 { n[$$1] = $$2; if ($$3 > 0) hit[$$1] = 1 } \
		END { for (b in n) { f = b; sub(/:.*/, "", f); sub(/\/[^\/]*$$/, "", f); sub(/^github.com\/handoff-health\/handoff\/?/, "./", f); \
			all[f] += n[b]; sum += n[b]; if (b in hit) { cov[f] += n[b]; got += n[b] } } \
			for (p in all) printf "%6.1f%%  %6d statements  %s\n", 100 * cov[p] / all[p], all[p], p; \
			printf "%6.1f%%  %6d statements  all\n", 100 * got / sum, sum }' $(BUILD_DIR)/cover.out | sort -k4

bench: ## Run every benchmark once, with allocations
	go test -run '^$$' -bench . -benchmem ./...

bench-match-100k: ## Match against 1k, 10k and 100k groups (about 20 minutes: the embedded server scans whole tables)
	HANDOFF_BENCH_100K=1 go test -run '^$$' -bench 'BenchmarkMatch' -benchtime 1x -timeout 0 ./shared/dynamo

bench-import: ## Import a Meeting Guide feed of 1,000 groups, new and again (a few minutes)
	HANDOFF_BENCH_IMPORT_1K=1 go test -run '^$$' -bench 'BenchmarkImport/groups=1000' -benchtime 1x -timeout 0 ./shared/apptest

bench-import-10k: ## Import a Meeting Guide feed of 10,000 groups as an asynchronous job, through the API and the dispatcher: time and DynamoDB calls (long)
	HANDOFF_BENCH_IMPORT_10K=1 go test -run '^$$' -bench 'BenchmarkImportJob/groups=10000' -benchtime 1x -timeout 0 ./shared/apptest

fuzz: ## Run each Fuzz target in FUZZPKGS (./...) for FUZZTIME (60s), one at a time
	@targets=$$(go test -list '^Fuzz' $(FUZZPKGS) | awk ' \
		/^Fuzz/ { names = names " " $$1; next } \
		/^ok/   { n = split(names, a, " "); for (i = 1; i <= n; i++) print $$2, a[i] } \
		        { names = "" }'); \
	if [ -z "$$targets" ]; then echo "no fuzz targets"; exit 0; fi; \
	while read -r pkg name; do \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s "$$pkg"; \
	done <<< "$$targets"

coldstart: $(NODE_MODULES) $(LOCAL_KMS) ## Measure cold starts of every function under the Lambda Runtime Interface Emulator, against the local stack
	go run ./infra/cmd/coldstart

coldstart-arm64: $(NODE_MODULES) $(LOCAL_KMS) ## One cold start of every function as it ships (arm64) under qemu-user-static with the arm64 emulator, answering its sample event (slow)
	go run ./infra/cmd/coldstart -arch arm64 -runs 1 -warm 1

soak: ## Run the soak tests (TestSoak* with build tag soak: 200, then 2,000 referrals under faults; make test runs 50)
	@if ! grep -rlq --include='*_test.go' 'func TestSoak' --exclude-dir=node_modules --exclude-dir=$(BUILD_DIR) .; then \
		echo "soak: not yet available (no TestSoak in the tree)"; exit 1; fi
	go test -count=1 -timeout 60m -run TestSoak -tags soak ./...

load: $(NODE_MODULES) ## Start the local stack, step signed referrals up against it (infra/cmd/load; LOAD_ARGS, LOAD_STACK_ARGS), print the table, stop it
	go build -o $(BUILD_DIR)/handoff ./infra/cmd/handoff
	go build -o $(BUILD_DIR)/load ./infra/cmd/load
	@token="adm_load_$$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"; \
	log="$(BUILD_DIR)/load-stack.log"; \
	echo "load: starting the stack (its log: $$log)"; \
	HANDOFF_ADMIN_TOKEN="$$token" ./$(BUILD_DIR)/handoff run $(LOAD_STACK_ARGS) >"$$log" 2>&1 & stack=$$!; \
	trap 'kill -TERM $$stack 2>/dev/null || true; wait $$stack 2>/dev/null || true' EXIT INT TERM; \
	HANDOFF_ADMIN_TOKEN="$$token" ./$(BUILD_DIR)/load -wait 90s -stack-pid $$stack $(LOAD_ARGS)

clean: ## Remove build outputs (build/, .aws-sam/)
	rm -rf $(BUILD_DIR) .aws-sam
