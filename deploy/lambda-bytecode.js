'use strict';

// Serverless plugin: compiled Python bytecode in the Lambda zip.
//
// Lambda's /var/task is read-only, so Python cannot keep the bytecode it compiles there:
// without .pyc files in the zip, every cold start compiles every module it imports again
// (docs/OPERATIONS.md has the measurement). Serverless zips every file with one fixed date
// (new Date(0)), so timestamp-checked .pyc files would all look stale; these are
// checked-hash ones (PEP 552): Python compares a hash of the source, not its date.
//
// Runs before the code is zipped, after serverless-python-requirements (listed after it in
// serverless.yml) has installed and slimmed the requirements, for `package`, `deploy` and
// `deploy function` alike. Bytecode is tied to a Python version: compiled only when the
// packaging Python is the runtime's, otherwise a warning and no bytecode. After the
// requirements are injected into the zip, the bytecode of their top-level modules
// (typing_extensions.py and the like) is added too: the injection skips a top-level
// __pycache__.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const REQUIREMENTS = path.join('.serverless', 'requirements');
const OWN_CODE = ['functions', 'shared'];

// Our own code's bytecode for this Python is removed first, so a module deleted since a
// previous run leaves nothing behind. One process, files in sorted order, a fixed hash
// seed: the same sources give the same bytes, so the zip's hash (which Serverless compares
// to skip unchanged deploys and to name versions) changes only when the code does.
const COMPILE = `
import compileall, py_compile, sys
from pathlib import Path
own, sources = sys.argv[1].split(","), sys.argv[2:]
for root in own:
    for stale in Path(root).rglob(f"*.{sys.implementation.cache_tag}.pyc"):
        stale.unlink()
mode = py_compile.PycInvalidationMode.CHECKED_HASH
ok = all(compileall.compile_dir(s, quiet=1, force=True, invalidation_mode=mode) for s in sources)
sys.exit(0 if ok else 1)
`;

// Appends the top-level bytecode of modules the zip carries, under one fixed date.
const ADD_TOP_LEVEL = `
import sys, zipfile
from pathlib import Path
artifact, cache = sys.argv[1], Path(sys.argv[2])
suffix = f".{sys.implementation.cache_tag}.pyc"
with zipfile.ZipFile(artifact, "a", zipfile.ZIP_DEFLATED) as zip_file:
    present = set(zip_file.namelist())
    for pyc in sorted(cache.glob(f"*{suffix}")):
        name = f"__pycache__/{pyc.name}"
        if name not in present and pyc.name.removesuffix(suffix) + ".py" in present:
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            zip_file.writestr(entry, pyc.read_bytes())
`;

class LambdaBytecode {
  constructor(serverless, options, { log } = {}) {
    this.serverless = serverless;
    this.options = options || {};
    this.log = log || { notice: console.log, warning: console.warn };
    this.compiled = false;
    this.hooks = {
      'before:package:createDeploymentArtifacts': () => this.compile(),
      'after:package:createDeploymentArtifacts': () => this.addTopLevel(),
      'before:deploy:function:packageFunction': () => this.compile(),
      'after:deploy:function:packageFunction': () => this.addTopLevel(),
    };
  }

  python() {
    return (this.serverless.service.custom.pythonRequirements || {}).pythonBin || 'python3';
  }

  run(args) {
    const done = spawnSync(this.python(), args, {
      cwd: this.serverless.serviceDir,
      encoding: 'utf8',
      env: { ...process.env, PYTHONHASHSEED: '0' },
    });
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
    const sources = [...OWN_CODE, REQUIREMENTS].filter((s) => fs.existsSync(path.join(root, s)));
    this.run(['-c', COMPILE, OWN_CODE.join(','), ...sources]);
    const tag = `cpython-${wanted.replace('.', '')}`;
    const patterns = (service.package.patterns = service.package.patterns || []);
    patterns.push(...OWN_CODE.map((dir) => `${dir}/**/__pycache__/*.${tag}.pyc`));
    this.compiled = true;
    this.log.notice(`lambda-bytecode: compiled ${sources.join(', ')} for Python ${version}`);
  }

  addTopLevel() {
    if (!this.compiled) return;
    const service = this.serverless.service;
    const root = this.serverless.serviceDir;
    const functionObj = this.options.functionObj; // set by `deploy function`
    const artifact = path.resolve(
      root,
      (functionObj && functionObj.package && functionObj.package.artifact) ||
        service.package.artifact ||
        path.join('.serverless', `${service.service}.zip`)
    );
    this.run(['-c', ADD_TOP_LEVEL, artifact, path.join(root, REQUIREMENTS, '__pycache__')]);
  }
}

module.exports = LambdaBytecode;
