"""`carbonish whisper ...` against Graphite's own whisper-*.py scripts.

Each case runs the real script (from the whisper 1.1.10 package in the venv) as a subprocess
whose clock is frozen at NOW, and carbonish.whisper_cli.main in-process with now=NOW, on two
copies of the same files; output text and resulting file bytes must be identical, except
where the script crashes or has a bug (those cases assert our behaviour and say why).
"""

import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import whisper as oracle

from carbonish import whisper as carbonish_whisper
from carbonish import whisper_cli

NOW = 1_700_000_123
SCRIPTS = sysconfig.get_path('scripts')
# Runs a whisper-*.py script with time.time() frozen at argv[1] (the scripts and whisper
# read the clock only through time.time).
# (-S skips site start-up, a third of each run; the whisper package's directory is added.)
ORACLE_RUNNER = '''
import sys
sys.path.append(%r)
import runpy, time
frozen = float(sys.argv[1])
time.time = lambda: frozen
script = sys.argv[2]
sys.argv = [script] + sys.argv[3:]
runpy.run_path(script, run_name="__main__")
''' % os.path.dirname(oracle.__file__)
SCRIPT_NAMES = {
    'set-aggregation': 'whisper-set-aggregation-method.py',
    'set-xff': 'whisper-set-xfilesfactor.py',
}
ARCHIVES = [(60, 120), (300, 72), (3600, 48)]


# The CLI runs on carbonish's engine; on the real whisper module too, which checks the CLI's
# own logic apart from the engine (whisper has no resize/fill functions: those are ours only).
ENGINES = [carbonish_whisper, oracle]
RESIZE_ENGINES = [carbonish_whisper]


@dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str


def run_script(command, args, stdin='', now=NOW):
    name = SCRIPT_NAMES.get(command, 'whisper-%s.py' % command)
    proc = subprocess.run(
        [sys.executable, '-S', '-c', ORACLE_RUNNER, str(now), os.path.join(SCRIPTS, name), *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False)
    prog = '%s %s' % (whisper_cli.PROG, command)
    return Result(proc.returncode, proc.stdout.replace(name, prog),
                  proc.stderr.replace(name, prog))


def run_ours(command, args, stdin='', now=NOW, engine=None):
    out, err = io.StringIO(), io.StringIO()
    status = whisper_cli.main([command, *args], stdout=out, stderr=err,
                              stdin=io.StringIO(stdin), now=now, engine=engine)
    return Result(status, out.getvalue(), err.getvalue())


class Twins:
    """Directories with the same files: one for the script, one per engine for us."""

    def __init__(self, root, engines=tuple(ENGINES)):
        self.engines = engines
        self.dirs = {'script': root / 'script'}
        for engine in engines:
            self.dirs[engine.__name__] = root / engine.__name__.replace('.', '_')
        for path in self.dirs.values():
            path.mkdir()

    def path(self, name):
        return str(self.dirs['script'] / name)

    def put(self, name, make):
        """Make a file with make(path) and copy it into every twin directory."""
        make(self.path(name))
        for key, path in self.dirs.items():
            if key != 'script':
                shutil.copyfile(self.path(name), path / name)

    def run(self, command, *args, stdin='', now=NOW):
        """Run both; return (script result, [our result per engine]) with dirs as '{d}'."""
        results = {}
        for key, directory in self.dirs.items():
            argv = [a.format(d=directory) for a in args]
            if key == 'script':
                result = run_script(command, argv, stdin, now)
            else:
                engine = next(e for e in self.engines if e.__name__ == key)
                result = run_ours(command, argv, stdin, now, engine)
            results[key] = Result(result.status, result.out.replace(str(directory), '{d}'),
                                  result.err.replace(str(directory), '{d}'))
        script = results.pop('script')
        return script, list(results.values())

    def same(self, command, *args, stdin='', now=NOW):
        """Both agree on status, stdout and stderr; returns the script's result."""
        script, ours = self.run(command, *args, stdin=stdin, now=now)
        for result in ours:
            assert result == script
        return script

    def files_equal(self, *names):
        for name in names:
            expected = (self.dirs['script'] / name).read_bytes()
            for key, directory in self.dirs.items():
                assert (directory / name).read_bytes() == expected, (key, name)

    def listing(self):
        names = {key: sorted(os.listdir(d)) for key, d in self.dirs.items()}
        first = names.pop('script')
        for key, listing in names.items():
            assert listing == first, key
        return first


def make_metric(path, archives=ARCHIVES, xff=0.5, method='average', gaps=True, seed=0):
    """A file with two days of points every minute, some missing and some zero."""
    oracle.create(path, archives, xFilesFactor=xff, aggregationMethod=method)
    points = []
    for i in range(2 * 24 * 60):
        t = NOW - i * 60
        if gaps and (i % 7 == 3 or 200 <= i < 260):
            continue
        value = 0.0 if i % 11 == 5 else ((i * 37 + seed) % 101) / 4.0 - 3.0
        points.append((t, value))
    oracle.update_many(path, points, now=NOW)


@pytest.fixture
def twins(tmp_path):
    return Twins(tmp_path)


@pytest.fixture
def resize_twins(tmp_path):
    return Twins(tmp_path, RESIZE_ENGINES)


@pytest.fixture
def metric(twins):
    twins.put('m.wsp', make_metric)
    return '{d}/m.wsp'


def one_line_error(result):
    assert result.status == 1
    assert result.out == ''
    assert result.err.startswith('[ERROR] ') and result.err.count('\n') == 1, result.err


# -- dispatch --------------------------------------------------------------------------

def test_no_command_prints_usage_to_stderr_and_fails():
    out, err = io.StringIO(), io.StringIO()
    assert whisper_cli.main([], stdout=out, stderr=err) == 2
    assert out.getvalue() == ''
    assert 'commands:' in err.getvalue() and 'set-aggregation' in err.getvalue()


def test_help_lists_every_command_on_stdout():
    out = io.StringIO()
    assert whisper_cli.main(['--help'], stdout=out) == 0
    for name in whisper_cli.COMMANDS:
        assert '  %s ' % name in out.getvalue()


def test_unknown_command_fails_naming_it():
    err = io.StringIO()
    assert whisper_cli.main(['frobnicate'], stderr=err) == 2
    assert err.getvalue().startswith("carbonish whisper: unknown command 'frobnicate'")


def test_default_engine_is_carbonish_whisper(tmp_path):
    path = str(tmp_path / 'x.wsp')
    out = io.StringIO()
    assert whisper_cli.main(['create', path, '60:10'], stdout=out) == 0
    assert oracle.info(path)['archives'][0]['points'] == 10


@pytest.mark.parametrize('command', sorted(whisper_cli.COMMANDS))
def test_help_matches_script(twins, command):
    result = twins.same(command, '--help')
    assert result.status == 0 and result.out


# -- create ----------------------------------------------------------------------------

@pytest.mark.parametrize('args', [
    ('60:1440',),
    ('1m:1d', '5m:1w', '1h:1y'),
    ('--xFilesFactor=0.25', '--aggregationMethod=max', '10s:6h', '1min:2d'),
    ('--aggregationMethod', 'absmin', '--xFilesFactor', '0', '15m:8'),
    ('--sparse', '60:100', '300:100'),
    ('--fallocate', '1s:1h', '1h:7d'),
])
def test_create_matches_script(twins, args):
    twins.same('create', '{d}/new.wsp', *args)
    twins.files_equal('new.wsp')


def test_create_existing_file_fails_like_script(twins, metric):
    result = twins.same('create', metric, '60:10')
    assert result.status == 1 and 'already exists' in result.err
    twins.files_equal('m.wsp')


def test_create_overwrite_replaces_file(twins, metric):
    result = twins.same('create', '--overwrite', metric, '60:10')
    assert result.out.startswith('Overwriting existing file: {d}/m.wsp\nCreated:')
    twins.files_equal('m.wsp')


@pytest.mark.parametrize('args', [
    ('60:1440', '300:2016'),
    ('1m:1d,5m:1w,1h:1y',),
    ('10s:1d',),
])
def test_create_estimate_matches_script(twins, args):
    result = twins.same('create', '--estimate', *args)
    assert 'Estimated Whisper DB Size' in result.out
    assert twins.listing() == []


def test_create_estimate_without_retentions_prints_usage(twins):
    result = twins.same('create', '--estimate')
    assert result.status == 1 and result.out.startswith('Usage:')


def test_create_without_retention_prints_help(twins):
    result = twins.same('create', '{d}/new.wsp')
    assert result.status == 1 and 'Options:' in result.out


@pytest.mark.parametrize('args', [
    ('60:10', '60:20'),            # two archives of one precision
    ('60:10', '300:1'),            # coarser archive retains less
    ('7:10', '60:100'),            # precisions that do not divide
])
def test_create_invalid_archive_list_fails_like_script(twins, args):
    result = twins.same('create', '{d}/new.wsp', *args)
    assert result.status == 1 and result.err.startswith('[ERROR] ')
    assert twins.listing() == []


@pytest.mark.parametrize('retention', ['60', '60:abc', 'xyz:10', '10q:1d', '60:10parsecs'])
def test_create_bad_retention_is_one_line_error(tmp_path, retention):
    # The script dies with a ValueError traceback here.
    for engine in ENGINES:
        result = run_ours('create', [str(tmp_path / 'new.wsp'), retention], engine=engine)
        one_line_error(result)
        assert retention.split(':')[-1] in result.err or retention in result.err
        assert not (tmp_path / 'new.wsp').exists()


@pytest.mark.parametrize('option', ['--aggregationMethod=median', '--xFilesFactor=1.5'])
def test_create_refused_header_leaves_no_file(twins, option):
    # The script prints the same error but leaves an empty file behind.
    script, ours = twins.run('create', option, '{d}/new.wsp', '60:10')
    assert script.status == 1 and os.path.getsize(twins.path('new.wsp')) == 0
    for result in ours:
        assert (result.status, result.err) == (script.status, script.err)
    for key, directory in twins.dirs.items():
        if key != 'script':
            assert not (directory / 'new.wsp').exists()


def test_create_option_with_bad_type_is_usage_error(twins):
    result = twins.same('create', '--xFilesFactor=half', '{d}/new.wsp', '60:10')
    assert result.status == 2 and 'invalid floating-point value' in result.err


# -- info ------------------------------------------------------------------------------

@pytest.mark.parametrize('args', [
    (), ('--json',), ('aggregationMethod',), ('xFilesFactor',), ('archives',),
    ('fileSize',), ('maxRetention',),
])
def test_info_matches_script(twins, metric, args):
    result = twins.same('info', metric, *args)
    assert result.status == 0


def test_info_unknown_field_fails_like_script(twins, metric):
    result = twins.same('info', metric, 'colour')
    assert result.status == 1
    assert result.out == ('Unknown field "colour". Valid fields are aggregationMethod,'
                          'maxRetention,xFilesFactor,archives,fileSize\n')


def test_info_text_layout(twins):
    twins.put('x.wsp', lambda p: oracle.create(p, [(60, 10), (600, 6)], xFilesFactor=0.3,
                                                 aggregationMethod='sum'))
    result = twins.same('info', '{d}/x.wsp')
    assert result.out == (
        'aggregationMethod: sum\nmaxRetention: 3600\nxFilesFactor: 0.30000001192092896\n'
        'fileSize: 232\n\n'
        'Archive 0\noffset: 40\nsecondsPerPoint: 60\npoints: 10\nretention: 600\nsize: 120\n\n'
        'Archive 1\noffset: 160\nsecondsPerPoint: 600\npoints: 6\nretention: 3600\n'
        'size: 72\n\n')
    assert json.loads(twins.same('info', '--json', '{d}/x.wsp').out)['fileSize'] == 232


def test_info_no_path_prints_help(twins):
    assert twins.same('info').status == 1


def test_info_missing_file_is_one_line_error(tmp_path):
    # The script crashes with a TypeError (whisper.info returns None).
    for engine in ENGINES:
        result = run_ours('info', [str(tmp_path / 'nope.wsp')], engine=engine)
        one_line_error(result)
        assert 'No such file' in result.err


@pytest.mark.parametrize('content', [b'', b'garbage', b'\x00\x00\x00\x09' + bytes(12)])
def test_info_corrupt_file_is_one_line_error(tmp_path, content):
    path = tmp_path / 'bad.wsp'
    path.write_bytes(content)
    for engine in ENGINES:
        result = run_ours('info', [str(path)], engine=engine)
        one_line_error(result)
        assert str(path) in result.err


# -- fetch -----------------------------------------------------------------------------

@pytest.mark.parametrize('args', [
    (),
    ('--from=%d' % (NOW - 3600), '--until=%d' % (NOW - 600)),
    ('--from', str(NOW - 3 * 86400), '--until', str(NOW - 86400)),
    ('--from=%d' % (NOW - 7200), '--json'),
    ('--from=%d' % (NOW - 2 * 86400), '--json'),
    ('--from=%d' % (NOW - 3600), '--pretty'),
    ('--from=%d' % (NOW - 3600), '--pretty', '-t', '%Y-%m-%d %H:%M'),
    ('--from=%d' % (NOW - 3600), '--time-format=%s'),
    ('--from=%d' % (NOW - 7200), '--drop=nulls', '--json'),
    ('--from=%d' % (NOW - 7200), '--drop=zeroes', '--json'),
    ('--from=%d' % (NOW - 7200), '--drop=empty', '--json'),
    ('--from=%d' % (NOW - 3600), '--until=%d' % (NOW + 3600)),
    ('--from=%d' % (NOW - 90 * 86400), '--until=%d' % (NOW - 86400)),
])
def test_fetch_matches_script(twins, metric, args):
    result = twins.same('fetch', metric, *args)
    assert result.status == 0 and result.out


def test_fetch_plain_format(twins, metric):
    result = twins.same('fetch', metric, '--from=%d' % (NOW - 600), '--until=%d' % (NOW - 300))
    step_start = (NOW - 600) // 60 * 60 + 60
    lines = result.out.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith('%d\t' % step_start)
    assert all(line.split('\t')[1] == 'None' or '.' in line.split('\t')[1] for line in lines)


@pytest.mark.parametrize('drop', ['nulls', 'zeroes', 'empty'])
def test_fetch_drop_keeps_each_value_at_its_timestamp(twins, metric, drop):
    # The script renumbers the kept values from the window start, one step apart, so every
    # value after a dropped one is printed at the wrong time.
    window = ('--from=%d' % (NOW - 7200), '--until=%d' % NOW)
    everything = twins.same('fetch', metric, *window).out.splitlines()
    keep = whisper_cli.DROP_FILTERS[drop]
    expected = [line for line in everything
                if keep(None if line.endswith('None') else float(line.split('\t')[1]))]
    script, ours = twins.run('fetch', metric, *window, '--drop=' + drop)
    assert len(script.out.splitlines()) == len(expected)
    assert script.out.splitlines() != expected
    for result in ours:
        assert result.out.splitlines() == expected


def test_fetch_future_window_has_no_data(twins, metric):
    result = twins.same('fetch', metric, '--from=%d' % (NOW + 10), '--until=%d' % (NOW + 20))
    assert (result.status, result.err) == (1, 'No data in selected timerange\n')


def test_fetch_from_after_until_fails_like_script(twins, metric):
    result = twins.same('fetch', metric, '--from=%d' % NOW, '--until=%d' % (NOW - 60))
    assert result.status == 1 and 'Invalid time interval' in result.err


def test_fetch_missing_file_fails_like_script(twins):
    result = twins.same('fetch', '{d}/nope.wsp')
    assert result.status == 1 and 'No such file or directory' in result.err


def test_fetch_bad_arguments_like_script(twins, metric):
    assert twins.same('fetch', metric, '--drop=ones').status == 2
    assert twins.same('fetch', metric, '--from=yesterday').status == 2
    assert twins.same('fetch').status == 1
    assert twins.same('fetch', metric, metric).status == 1


def test_fetch_clock_is_injected(twins, metric):
    later = NOW + 43200
    result = twins.same('fetch', metric, now=later)
    values = [line.split('\t')[1] for line in result.out.splitlines()]
    assert values[-1] == 'None' and any(v != 'None' for v in values)


# -- dump ------------------------------------------------------------------------------

@pytest.mark.parametrize('args', [(), ('--pretty',), ('-r',), ('--raw',),
                                  ('--pretty', '-t', '%d/%m %H:%M:%S')])
def test_dump_matches_script(twins, metric, args):
    result = twins.same('dump', metric, *args)
    assert result.status == 0


def test_dump_layout(twins):
    def make(path):
        oracle.create(path, [(60, 3), (120, 2)], xFilesFactor=0.75)
        oracle.update(path, 1.5, NOW - 60, now=NOW)
    twins.put('x.wsp', make)
    aligned = (NOW - 60) // 60 * 60
    result = twins.same('dump', '{d}/x.wsp')
    lines = result.out.splitlines()
    assert lines[:4] == ['Meta data:', '  aggregation method: average', '  max retention: 240',
                         '  xFilesFactor: 0.75']
    assert 'Archive 0 data:' in lines
    assert '0: %d,        1.5' % aligned in lines
    raw = twins.same('dump', '-r', '{d}/x.wsp').out.splitlines()
    assert raw[0] == '%d:1.5' % aligned and raw[1] == '0:0'


def test_dump_needs_one_file(twins, metric):
    result = twins.same('dump')
    assert result.status == 2 and 'require one input file name' in result.err
    assert twins.same('dump', metric, metric).status == 2


def test_dump_missing_file_fails_like_script(twins):
    result = twins.same('dump', '{d}/nope.wsp')
    assert result.status == 1 and result.err == '[ERROR] File "{d}/nope.wsp" does not exist!\n'


def test_dump_truncated_file_is_one_line_error(tmp_path):
    # The script dies with a struct.error traceback.
    path = tmp_path / 't.wsp'
    oracle.create(str(path), [(60, 100)])
    path.write_bytes(path.read_bytes()[:500])
    for engine in ENGINES:
        result = run_ours('dump', [str(path)], engine=engine)
        assert result.status == 1 and 'truncated' in result.err


# -- update ----------------------------------------------------------------------------

@pytest.mark.parametrize('points', [
    ('%d:42.5' % (NOW - 30),),
    ('N:7',),
    ('%d:1' % (NOW - 300), '%d:2' % (NOW - 240), 'N:3', '%d:-4.25' % (NOW - 90000)),
    ('%d:1' % (NOW - 120), '%d:2' % (NOW - 120)),
])
def test_update_matches_script(twins, metric, points):
    result = twins.same('update', metric, *points)
    assert result == Result(0, '', '')
    twins.files_equal('m.wsp')


def test_update_reads_stdin(twins, metric):
    lines = ''.join('%d:%d\n' % (NOW - 60 * i, i) for i in range(50)) + 'N:9\n'
    twins.same('update', metric, stdin=lines)
    twins.files_equal('m.wsp')


def test_update_single_point_outside_retention_fails_like_script(twins, metric):
    result = twins.same('update', metric, '%d:1' % (NOW - 10 ** 7))
    assert result.status == 1 and 'Timestamp not covered' in result.err
    twins.files_equal('m.wsp')


def test_update_no_path_prints_help(twins):
    assert twins.same('update').status == 1


@pytest.mark.parametrize('point', ['12345', '1:2:3', 'abc:1', '%d.5:1' % NOW, '%d:x' % NOW])
def test_update_bad_point_is_one_line_error(tmp_path, point):
    # The script dies with a ValueError traceback.
    path = tmp_path / 'm.wsp'
    make_metric(str(path))
    before = path.read_bytes()
    for engine in ENGINES:
        result = run_ours('update', [str(path), point], engine=engine)
        one_line_error(result)
        assert point in result.err
    assert path.read_bytes() == before


def test_update_skips_blank_stdin_lines(tmp_path):
    path = tmp_path / 'm.wsp'
    oracle.create(str(path), [(60, 10)])
    for engine in ENGINES:
        status = run_ours('update', [str(path)], stdin='\n%d:5\n\n  \n' % NOW,
                          engine=engine).status
        assert status == 0
    assert oracle.fetch(str(path), NOW - 60, NOW, now=NOW)[1][-1] == 5.0


# -- set-aggregation, set-xff ----------------------------------------------------------

@pytest.mark.parametrize('args', [('max',), ('sum', '0.1'), ('avg_zero', '1'), ('last', '0')])
def test_set_aggregation_matches_script(twins, metric, args):
    result = twins.same('set-aggregation', metric, *args)
    assert result.out.startswith('Updated aggregation method: {d}/m.wsp (average -> ')
    twins.files_equal('m.wsp')


@pytest.mark.parametrize('args', [('median',), ('max', '2'), ('max', 'lots')])
def test_set_aggregation_refusals_match_script(twins, metric, args):
    result = twins.same('set-aggregation', metric, *args)
    assert result.status == 1 and result.err.startswith('[ERROR] ')
    twins.files_equal('m.wsp')


def test_set_aggregation_missing_file_like_script(twins):
    result = twins.same('set-aggregation', '{d}/nope.wsp', 'max')
    assert result.status == 1 and result.err.startswith("[ERROR] File '{d}/nope.wsp'")
    assert twins.same('set-aggregation', '{d}/nope.wsp').status == 1


def test_set_aggregation_alias(tmp_path):
    path = str(tmp_path / 'm.wsp')
    oracle.create(path, [(60, 10)])
    result = run_ours('set-aggregation-method', [path, 'min'], engine=ENGINES[0])
    assert result.status == 0 and oracle.info(path)['aggregationMethod'] == 'min'


@pytest.mark.parametrize('args', [('0.3',), ('1',), ('0',)])
def test_set_xff_matches_script(twins, metric, args):
    result = twins.same('set-xff', metric, *args)
    assert result.out.startswith('Updated xFilesFactor: {d}/m.wsp (0.5 -> ')
    twins.files_equal('m.wsp')


def test_set_xff_refusals_match_script(twins, metric):
    assert twins.same('set-xff', metric, '1.5').status == 1
    assert twins.same('set-xff', metric, 'half').status == 2
    assert twins.same('set-xff', metric).status == 2
    assert twins.same('set-xff', '{d}/nope.wsp', '0.1').status == 1
    twins.files_equal('m.wsp')


# -- merge -----------------------------------------------------------------------------

@pytest.mark.parametrize('args', [
    (),
    ('--from=%d' % (NOW - 7200),),
    ('--from=%d' % (NOW - 86400), '--until=%d' % (NOW - 3600)),
    ('--until=%d' % (NOW - 5 * 86400),),
])
def test_merge_matches_script(twins, args):
    twins.put('a.wsp', lambda p: make_metric(p, seed=5, gaps=False))
    twins.put('b.wsp', lambda p: make_metric(p, seed=9))
    result = twins.same('merge', *args, '{d}/a.wsp', '{d}/b.wsp')
    assert result == Result(0, '', '')
    twins.files_equal('a.wsp', 'b.wsp')


def test_merge_missing_file_like_script(twins, metric):
    result = twins.same('merge', metric, '{d}/nope.wsp')
    assert result.err == '[ERROR] File "{d}/nope.wsp" does not exist!\n'
    assert twins.same('merge', metric).status == 1


def test_merge_unlike_archives_is_one_line_error(twins, metric):
    # The script dies with a NotImplementedError traceback.
    twins.put('other.wsp', lambda p: oracle.create(p, [(60, 10)]))
    _, ours = twins.run('merge', metric, '{d}/other.wsp')
    for result in ours:
        one_line_error(result)
        assert 'unalike' in result.err
    twins.files_equal('other.wsp')


def test_merge_until_before_from_is_one_line_error(twins, metric):
    twins.put('b.wsp', make_metric)
    _, ours = twins.run('merge', '--from=%d' % NOW, '--until=%d' % (NOW - 60), metric,
                        '{d}/b.wsp')
    for result in ours:
        one_line_error(result)


# -- diff ------------------------------------------------------------------------------

@pytest.mark.parametrize('args', [
    (), ('--summary',), ('--ignore-empty',), ('--columns',), ('--no-headers',),
    ('--columns', '--no-headers'), ('--summary', '--columns', '--no-headers'),
    ('--json',), ('--json', '--summary'), ('--until=%d' % (NOW - 86400),),
    ('--until=0',), ('--summary', '--ignore-empty', '--until=%d' % (NOW - 3600)),
])
def test_diff_matches_script(twins, args):
    twins.put('a.wsp', lambda p: make_metric(p, seed=1))
    twins.put('b.wsp', lambda p: make_metric(p, seed=2, gaps=False))
    result = twins.same('diff', *args, '{d}/a.wsp', '{d}/b.wsp')
    assert result.status == 0 and result.out


def test_diff_of_equal_files(twins, metric):
    result = twins.same('diff', '--summary', metric, metric)
    rows = [line.split() for line in result.out.splitlines()]
    assert rows[0] == ['archive', 'total', 'differing']
    assert [row[0] for row in rows[1:]] == ['0', '1', '2']
    assert all(int(total) > 0 and differing == '0' for _, total, differing in rows[1:])


def test_diff_errors(twins, metric):
    assert twins.same('diff', metric).status == 1
    twins.put('other.wsp', lambda p: oracle.create(p, [(60, 10)]))
    for args in ((metric, '{d}/other.wsp'), (metric, '{d}/nope.wsp')):
        _, ours = twins.run('diff', *args)   # the script dies with a traceback
        for result in ours:
            one_line_error(result)


# -- fill ------------------------------------------------------------------------------

@pytest.mark.parametrize('dst_archives', [ARCHIVES, [(60, 1440), (900, 200)]])
@pytest.mark.parametrize('lock', [(), ('--lock',)])
def test_fill_matches_script(resize_twins, dst_archives, lock):
    twins = resize_twins
    twins.put('src.wsp', lambda p: make_metric(p, seed=3, gaps=False))
    twins.put('dst.wsp', lambda p: make_metric(p, archives=dst_archives, seed=4))
    assert twins.same('fill', *lock, '{d}/src.wsp', '{d}/dst.wsp') == Result(0, '', '')
    twins.files_equal('src.wsp', 'dst.wsp')


def test_fill_into_empty_file(resize_twins):
    twins = resize_twins
    twins.put('src.wsp', lambda p: make_metric(p, seed=3))
    twins.put('dst.wsp', lambda p: oracle.create(p, ARCHIVES))
    twins.same('fill', '{d}/src.wsp', '{d}/dst.wsp')
    twins.files_equal('dst.wsp')
    filled = oracle.fetch(twins.path('dst.wsp'), NOW - 3600, NOW, now=NOW)[1]
    assert sum(v is not None for v in filled) > 30


def test_fill_usage(resize_twins):
    assert resize_twins.same('fill', '{d}/a.wsp').status == 1
    assert resize_twins.same('fill', '{d}/a.wsp', '{d}/b.wsp', '{d}/c.wsp').status == 1


@pytest.mark.parametrize('which', ['src', 'dst'])
def test_fill_missing_file_is_one_line_error(resize_twins, which):
    # The script dies with a traceback.
    resize_twins.put('m.wsp', make_metric)
    args = ('{d}/nope.wsp', '{d}/m.wsp') if which == 'src' else ('{d}/m.wsp', '{d}/nope.wsp')
    _, ours = resize_twins.run('fill', *args)
    for result in ours:
        one_line_error(result)
        assert 'nope.wsp' in result.err
    resize_twins.files_equal('m.wsp')


# -- resize ----------------------------------------------------------------------------

@pytest.fixture
def resize_metric(resize_twins):
    resize_twins.put('m.wsp', make_metric)
    return '{d}/m.wsp'


@pytest.mark.parametrize('args', [
    ('60:1d', '1h:7d'),
    ('--nobackup', '1m:3h', '10m:1d', '1h:2d'),
    ('--xFilesFactor=0.1', '--aggregationMethod=max', '300:500'),
    ('30:100', '60:400', '3600:48'),
    ('--force', '1s:1h', '1m:2d'),
])
def test_resize_matches_script(resize_twins, resize_metric, args):
    twins = resize_twins
    twins.put('m.wsp.tmp', lambda p: open(p, 'wb').close())
    result = twins.same('resize', resize_metric, *args)
    assert result.out.splitlines()[:2] == [
        'Retrieving all data from the archives',
        'Removing previous temporary database file: {d}/m.wsp.tmp']
    twins.files_equal('m.wsp')
    assert 'm.wsp.tmp' not in twins.listing()
    assert ('m.wsp.bak' in twins.listing()) == ('--nobackup' not in args)


def test_resize_newfile_keeps_original(resize_twins, resize_metric):
    twins = resize_twins
    result = twins.same('resize', resize_metric, '--newfile={d}/n.wsp', '120:720')
    assert result.out.splitlines()[-1] == 'Migrating data without aggregation...'
    twins.files_equal('m.wsp', 'n.wsp')
    assert twins.listing() == ['m.wsp', 'n.wsp']


@pytest.mark.parametrize('method, archives', [
    ('average', ('60:1d', '1h:7d')),
    ('sum', ('5m:2d', '30m:4d')),
    ('avg_zero', ('30:240', '3600:24')),
    ('last', ('60:1d', '1h:7d')),
    ('absmax', ('5m:2d', '30m:4d')),
    ('min', ('30:240', '3600:24')),
])
def test_resize_aggregate_matches_script(resize_twins, method, archives):
    # Compared without the script's debugging lines (oldtimestamps: [...] and so on).
    twins = resize_twins
    twins.put('m.wsp', lambda p: make_metric(p, method=method))
    script, ours = twins.run('resize', '--aggregate', '{d}/m.wsp', *archives)
    debug = ('oldtimestamps: ', '(', 'timepoints_to_update: ')
    expected = ''.join(line for line in script.out.splitlines(keepends=True)
                       if not line.startswith(debug))
    assert script.status == 0 and 'Migrating data with aggregation...' in expected
    for result in ours:
        assert result == Result(0, expected, '')
    twins.files_equal('m.wsp', 'm.wsp.bak')


def test_resize_missing_file_like_script(resize_twins):
    twins = resize_twins
    result = twins.same('resize', '{d}/nope.wsp', '60:10')
    assert result.status == 1 and result.err == "[ERROR] File '{d}/nope.wsp' does not exist!\n\n"
    assert twins.same('resize', '{d}/nope.wsp').status == 1


@pytest.mark.parametrize('retention', ['60:forever', '60:10'])   # bad text; bad archive list
def test_resize_refused_retention_is_one_line_error(resize_twins, resize_metric, retention):
    # The script dies with a traceback (after creating nothing).
    twins = resize_twins
    _, ours = twins.run('resize', resize_metric, '60:100', retention)
    for result in ours:
        assert result.status == 1 and result.err.startswith('[ERROR] ')
        assert result.err.count('\n') == 1
    twins.files_equal('m.wsp')
    assert twins.listing() == ['m.wsp']


def test_resize_newfile_exists_is_error(resize_twins, resize_metric):
    twins = resize_twins
    twins.put('n.wsp', lambda p: oracle.create(p, [(60, 10)]))
    _, ours = twins.run('resize', resize_metric, '--newfile={d}/n.wsp', '60:20')
    for result in ours:
        assert result.status == 1 and 'already exists' in result.err
    twins.files_equal('m.wsp', 'n.wsp')


def test_broken_pipe_exits_quietly(tmp_path):
    path = str(tmp_path / 'm.wsp')
    make_metric(path)

    class ClosedPipe(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, 'Broken pipe')

    err = io.StringIO()
    status = whisper_cli.main(['dump', path], stdout=ClosedPipe(), stderr=err)
    assert (status, err.getvalue()) == (whisper_cli.SIGPIPE_STATUS, '')


def test_info_on_a_directory_is_one_line_error(tmp_path):
    # whisper.info returns None for any file it cannot open; carbonish's raises.
    for engine in ENGINES:
        one_line_error(run_ours('info', [str(tmp_path)], engine=engine))


# Newest first, one a minute: nan, inf and -inf share a 5-minute bucket (the NaN's sign bit
# must propagate as whisper's sum does).
SPECIAL_VALUES = ['nan', 'inf', '-inf', '1e-300', '-0.0', '123456789.123456789', '1e22', '5e-324']


def test_special_values_print_like_script(twins):
    """IEEE specials and extreme magnitudes through update, fetch, dump and diff."""
    twins.put('a.wsp', lambda p: oracle.create(p, [(60, 20), (300, 12)], xFilesFactor=0))
    twins.put('b.wsp', lambda p: oracle.create(p, [(60, 20), (300, 12)], xFilesFactor=0))
    points = ['%d:%s' % (NOW - 60 * (i + 1), v) for i, v in enumerate(SPECIAL_VALUES)]
    twins.same('update', '{d}/a.wsp', *points)
    twins.files_equal('a.wsp')
    window = ('--from=%d' % (NOW - 1200), '--until=%d' % NOW)
    assert 'nan' in twins.same('fetch', '{d}/a.wsp', *window).out
    assert 'inf' in twins.same('fetch', '{d}/a.wsp', '--json', *window).out
    assert 'e-300' in twins.same('dump', '{d}/a.wsp').out
    twins.same('dump', '--raw', '{d}/a.wsp')
    assert 'NaN' in twins.same('diff', '--json', '{d}/a.wsp', '{d}/b.wsp').out
    twins.same('diff', '{d}/a.wsp', '{d}/b.wsp')


def _bad_files(directory, good):
    content = open(good, 'rb').read()
    files = {
        'empty': b'',
        'garbage': b'this is not a whisper file' * 4,
        'short header': content[:20],
        'short data': content[:500],
        'zero step': content[:20] + bytes(4) + content[24:],
    }
    paths = {'missing': str(directory / 'missing.wsp'), 'directory': str(directory)}
    for name, data in files.items():
        paths[name] = str(directory / (name.replace(' ', '_') + '.wsp'))
        with open(paths[name], 'wb') as fh:
            fh.write(data)
    return paths


BAD_FILE_COMMANDS = [
    ('info', '{bad}'), ('info', '--json', '{bad}'), ('fetch', '{bad}'), ('dump', '{bad}'),
    ('dump', '-r', '{bad}'), ('update', '{bad}', 'N:1'), ('update', '{bad}', 'N:1', 'N:2'),
    ('resize', '{bad}', '60:10'), ('set-aggregation', '{bad}', 'max'), ('set-xff', '{bad}', '0'),
    ('merge', '{bad}', '{good}'), ('merge', '{good}', '{bad}'), ('fill', '{bad}', '{good}'),
    ('fill', '{good}', '{bad}'), ('diff', '{bad}', '{good}'), ('diff', '{good}', '{bad}'),
]


@pytest.mark.parametrize('command', BAD_FILE_COMMANDS, ids=' '.join)
def test_bad_files_give_an_error_line_never_a_traceback(tmp_path, command):
    good = str(tmp_path / 'good.wsp')
    make_metric(good, archives=[(60, 100), (600, 100)])
    before = open(good, 'rb').read()
    for name, bad in _bad_files(tmp_path, good).items():
        argv = [a.format(bad=bad, good=good) for a in command]
        result = run_ours(argv[0], argv[1:])
        assert result.status == 1, (name, result)
        first, _, rest = result.err.partition('\n')
        assert first.startswith('[ERROR] ') and rest.strip() == '', (name, result.err)
    assert open(good, 'rb').read() == before


@st.composite
def archive_lists(draw):
    """Valid whisper archive lists of one to three archives, small enough to dump."""
    step = draw(st.sampled_from([1, 10, 60]))
    archives = [(step, draw(st.integers(4, 40)))]
    for _ in range(draw(st.integers(0, 2))):
        prev_step, prev_points = archives[-1]
        factor = draw(st.integers(2, min(6, prev_points)))
        step = prev_step * factor
        least = prev_step * prev_points // step + 1
        archives.append((step, draw(st.integers(least, least + 30))))
    return archives


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(archives=archive_lists(),
       method=st.sampled_from(list(oracle.aggregationMethods)),
       xff=st.sampled_from([0.0, 0.5, 1.0]),
       points=st.lists(st.tuples(st.integers(0, 10 ** 6),
                                 st.floats(allow_nan=False, width=64)), max_size=40))
def test_any_file_reads_like_script(tmp_path_factory, archives, method, xff, points):
    twins = Twins(tmp_path_factory.mktemp('any'))
    retention = max(step * count for step, count in archives)

    def make(path):
        oracle.create(path, archives, xFilesFactor=xff, aggregationMethod=method)
        oracle.update_many(path, [(NOW - age % retention, v) for age, v in points], now=NOW)

    twins.put('x.wsp', make)
    twins.same('info', '--json', '{d}/x.wsp')
    twins.same('dump', '--raw', '{d}/x.wsp')
    twins.same('fetch', '--json', '--from=%d' % (NOW - retention), '{d}/x.wsp')
    twins.same('update', '{d}/x.wsp', *('%d:%r' % (NOW - age % retention, v)
                                        for age, v in points[:5]))
    twins.files_equal('x.wsp')


def test_carbonish_console_script_runs_whisper_commands(tmp_path, capsys):
    from carbonish import cli
    path = str(tmp_path / 'c.wsp')
    assert cli.main(['whisper', 'create', path, '60:10', '600:6']) == 0
    assert cli.main(['whisper', 'info', path, 'maxRetention']) == 0
    assert cli.main(['whisper', 'fetch', '--from=0', path]) == 0
    assert capsys.readouterr().out.startswith('Created: %s (232 bytes)\n3600\n' % path)
