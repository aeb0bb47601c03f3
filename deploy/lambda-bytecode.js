'use strict';

// Serverless plugin: compiled Python bytecode in the Lambda zip.
//
// Lambda's /var/task is read-only, so Python cannot keep the bytecode it compiles there:
// without .pyc files in the zip, every cold start compiles every module it imports again
// (docs/OPERATIONS.md has the measurement). Serverless zips every file with one fixed date
// (new Date(0)), so timestamp-checked .pyc files would all look stale; these are
// checked-hash ones (PEP 552): Python compares a hash of the source, not its date.
//
// Runs on before:package:createDeploymentArtifacts after serverless-python-requirements
// (listed after it in serverless.yml), so the requirements are installed and slimmed and
// the code's file list is not read yet. Bytecode is tied to a Python version: compiled only
// when the packaging Python is the runtime's, otherwise a warning and no bytecode. After
// the requirements are injected into the zip, the bytecode of their top-level modules
// (typing_extensions.py and the like) is added too: the injection skips a top-level
// __pycache__.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const REQUIREMENTS = path.join('.serverless', 'requirements');
const SOURCES = ['functions', 'shared', REQUIREMENTS];
// Appends the top-level bytecode under one fixed date, so the same input gives the same zip
// (Serverless compares its hash to skip unchanged deploys).
const ADD_TOP_LEVEL = `
import sys, zipfile
from pathlib import Path
artifact, cache = sys.argv[1], Path(sys.argv[2])
with zipfile.ZipFile(artifact, "a", zipfile.ZIP_DEFLATED) as zip_file:
    present = set(zip_file.namelist())
    for pyc in sorted(cache.glob(f"*.{sys.implementation.cache_tag}.pyc")):
        name = f"__pycache__/{pyc.name}"
        if name not in present:
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            zip_file.writestr(entry, pyc.read_bytes())
`;

class LambdaBytecode {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.log = log || { notice: console.log, warning: console.warn };
    this.compiled = false;
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => this.compile(),
      'after:package:createDeploymentArtifacts': () => this.addTopLevel(),
    };
  }

  python() {
    return (this.serverless.service.custom.pythonRequirements || {}).pythonBin || 'python3';
  }

  run(args) {
    const done = spawnSync(this.python(), args, { cwd: this.serverless.serviceDir, encoding: 'utf8' });
    if (done.status !== 0) {
      throw new this.serverless.classes.Error(
        `lambda-bytecode: ${args.slice(0, 2).join(' ')} failed: ` +
          `${(done.stdout || '') + (done.stderr || '') || done.error}`
      );
    }
  }

  compile() {
    const service = this.serverless.service;
    const runtime = String(service.provider.runtime || '');
    const wanted = runtime.replace(/^python/, '');
    const python = this.python();
    const probe = spawnSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
      encoding: 'utf8',
    });
    const version = (probe.stdout || '').trim();
    if (version !== wanted) {
      this.log.warning(
        `lambda-bytecode: packaging Python is ${version || `missing (${python})`}, the ` +
          `runtime is ${runtime}: no bytecode in the zip, so every cold start compiles ` +
          `its modules. Set SLS_PYTHON_BIN to a Python ${wanted}.`
      );
      return;
    }
    const root = this.serverless.serviceDir;
    const sources = SOURCES.filter((source) => fs.existsSync(path.join(root, source)));
    this.run(['-m', 'compileall', '-q', '-f', '-j', '0', '--invalidation-mode', 'checked-hash', ...sources]);
    // Only what was compiled just now, for this runtime: never a local run's leftovers.
    const tag = `cpython-${wanted.replace('.', '')}`;
    const patterns = (service.package.patterns = service.package.patterns || []);
    patterns.push(`functions/__pycache__/*.${tag}.pyc`, `shared/**/__pycache__/*.${tag}.pyc`);
    this.compiled = true;
    this.log.notice(`lambda-bytecode: compiled ${sources.join(', ')} for Python ${version}`);
  }

  addTopLevel() {
    if (!this.compiled) return;
    const service = this.serverless.service;
    const root = this.serverless.serviceDir;
    const artifact = path.resolve(
      root,
      service.package.artifact || path.join('.serverless', `${service.service}.zip`)
    );
    this.run(['-c', ADD_TOP_LEVEL, artifact, path.join(root, REQUIREMENTS, '__pycache__')]);
  }
}

module.exports = LambdaBytecode;
