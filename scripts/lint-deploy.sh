#!/usr/bin/env bash
# Lints the deployment files with checkers from a package registry, pinned, in their own
# virtualenv <repo>/.venv-lint: cfn-lint on the CloudFormation template, kubernetes-validate
# (the Kubernetes OpenAPI schemas, --strict: unknown fields fail) on every manifest. Any finding, error or warning (such as an IAM action cfn-lint does not
# know), fails. Neither Terraform nor the Bicep CLI is in a registry we reach; the Rust tests
# (agent/src/providers/{aws,azure}/onboarding_tests.rs) parse those templates and check them
# against the call registries instead.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-lint"
python="${PYTHON:-python3}"
cfn_lint_version="1.58.0"
kubernetes_validate_version="1.37.0"

if [ "$("$venv/bin/cfn-lint" --version 2>/dev/null)" != "cfn-lint $cfn_lint_version" ] ||
    [ "$("$venv/bin/kubernetes-validate" --version 2>/dev/null)" != "$kubernetes_validate_version" ]; then
    echo "installing cfn-lint $cfn_lint_version and kubernetes-validate $kubernetes_validate_version into $venv"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$cfn_lint_version" \
        "kubernetes-validate==$kubernetes_validate_version"
fi

templates=("$root"/deploy/onboarding/aws/*.yaml)
echo "cfn-lint $cfn_lint_version: ${templates[*]#"$root"/}"
"$venv/bin/cfn-lint" -- "${templates[@]}"
echo "cfn-lint: no findings"

manifests=("$root"/deploy/kubernetes/*.yaml)
echo "kubernetes-validate $kubernetes_validate_version --strict: ${manifests[*]#"$root"/}"
"$venv/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"
echo "kubernetes-validate: every manifest valid"
