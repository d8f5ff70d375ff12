"""`carbonish whisper <command>`: Graphite's whisper-*.py scripts on carbonish's engine.

    command           does what                              Graphite's script
    create            make a file from retention definitions whisper-create.py
    info              print the header                       whisper-info.py
    fetch             print a time range                     whisper-fetch.py
    dump              print every stored point               whisper-dump.py
    update            write points from argv or stdin        whisper-update.py
    resize            rewrite a file with new archives       whisper-resize.py
    set-aggregation   change the aggregation method (+ xff)  whisper-set-aggregation-method.py
    set-xff           change the xFilesFactor                whisper-set-xfilesfactor.py
    merge             copy one file's points into another    whisper-merge.py
    fill              copy points into another file's gaps   whisper-fill.py
    diff              compare two files point by point       whisper-diff.py

Flags, positional arguments, output text, exit codes and resulting files are the scripts'
(optparse or argparse parse the same way here), with these deliberate differences:
- where a script dies with a traceback (a missing or corrupt file, a bad retention, a bad
  datapoint, unlike archives for merge/diff), this prints one `[ERROR] ...` line and exits 1;
- `fetch --drop` prints each kept value at its own timestamp (the script shifts the timestamps
  of everything after a dropped value);
- `resize` runs the engine's resize, so it prints `Created: ...` and the lines after it once
  all is done (a failure prints `[ERROR] ...` instead), and with `--aggregate` leaves out the
  script's debugging lines (`oldtimestamps: [...]`, `(from,until,step)`, `timepoints_...`);
- `create` removes the file it began when the engine refuses the arguments (the script leaves
  an empty file behind);
- `update` skips blank input lines.
Everything that depends on the clock takes one `now` (default: the time `main` is called).
"""

import argparse
import json
import optparse
import os
import sys
import time
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, TextIO

import numpy as np

from carbonish import whisper as carbonish_whisper

PROG = 'carbonish whisper'
SECONDS_PER_DAY = 86400
SIGPIPE_STATUS = 141
# whisper-create.py --estimate: the block size it rounds to, and the fleet sizes it prices.
ESTIMATE_BLOCK_BYTES = 4096
ESTIMATE_METRIC_THOUSANDS = (1, 5, 10, 50, 100, 500)

RETENTIONS = 'timePerPoint:timeToStore [timePerPoint:timeToStore]*'
RETENTION_HELP = '''
timePerPoint and timeToStore specify lengths of time, for example:

60:1440      60 seconds per datapoint, 1440 datapoints = 1 day of retention
15m:8        15 minutes per datapoint, 8 datapoints = 2 hours of retention
1h:7d        1 hour per datapoint, 7 days of retention
12h:2y       12 hours per datapoint, 2 years of retention
'''


class CliError(Exception):
    """A user-facing failure: one line for stderr and an exit status."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.message = message
        self.status = status


class _ParserExit(Exception):
    """A parser finished the command early (help shown, or a usage error)."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Context:
    """What one command run talks to: its streams, its clock and the storage engine."""

    out: TextIO
    err: TextIO
    stdin: TextIO
    now: int
    engine: Any

    def say(self, text=''):
        self.out.write(text + '\n')


class _ContextStreams:
    """Help and errors on the context's streams, and an exception instead of sys.exit:
    what both parser flavours need (optparse for the scripts, argparse for set-xff)."""

    def __init__(self, ctx, **kwargs):
        super().__init__(**kwargs)
        self.ctx = ctx

    def print_usage(self, file=None):
        super().print_usage(file or self.ctx.out)

    def print_help(self, file=None):
        super().print_help(file or self.ctx.out)

    def exit(self, status=0, msg=None):
        if msg:
            self.ctx.err.write(msg)
        raise _ParserExit(status)

    def error(self, msg):
        self.print_usage(self.ctx.err)
        self.exit(2, '%s: error: %s\n' % (self._name(), msg))


class _OptionParser(_ContextStreams, optparse.OptionParser):
    """optparse as the scripts use it."""

    def _name(self):
        return self.get_prog_name()


class _ArgumentParser(_ContextStreams, argparse.ArgumentParser):
    """argparse (whisper-set-xfilesfactor.py's parser)."""

    def _name(self):
        return self.prog


def _parser(ctx, name, usage, **kwargs):
    return _OptionParser(ctx, prog='%s %s' % (PROG, name), usage=usage, **kwargs)


def _parse_retention(ctx, text):
    try:
        return ctx.engine.parseRetentionDef(text)
    except (ValueError, KeyError) as exc:
        reason = str(exc)
        if text not in reason:
            reason = "%s in retention definition '%s'" % (reason, text)
        raise CliError('[ERROR] %s' % reason) from exc


def _methods(ctx):
    return ', '.join(ctx.engine.aggregationMethods)


def _read_info(ctx, path):
    """The header as the scripts print it: whisper's keys in whisper's order, plain types."""
    raw = ctx.engine.info(path)
    if raw is None:  # whisper's info hides the reason; stat says it
        os.stat(path)
        raise CliError('[ERROR] Unable to read header (%s)' % path)
    archives = [{
        'offset': int(a['offset']),
        'secondsPerPoint': int(a['secondsPerPoint']),
        'points': int(a['points']),
        'retention': int(a['retention']),
        'size': int(a['size']),
    } for a in raw['archives']]
    return {
        'aggregationMethod': raw['aggregationMethod'],
        'maxRetention': int(raw['maxRetention']),
        'xFilesFactor': float(raw['xFilesFactor']),
        'archives': archives,
    }


def _byte_format(num):
    for unit in ('bytes', 'KB', 'MB'):
        if num < 1024.0:
            return '%.3f%s' % (num, unit)
        num /= 1024.0
    return '%.3f%s' % (num, 'GB')


# -- create ------------------------------------------------------------------------------

def _cmd_create(ctx, argv):
    parser = _parser(ctx, 'create', '%prog path ' + RETENTIONS + '\n%prog --estimate '
                     + RETENTIONS + '\n' + RETENTION_HELP)
    parser.add_option('--xFilesFactor', default=0.5, type='float')
    parser.add_option('--aggregationMethod', default='average', type='string',
                      help='Function to use when aggregating values (%s)' % _methods(ctx))
    parser.add_option('--overwrite', default=False, action='store_true')
    parser.add_option('--estimate', default=False, action='store_true',
                      help="Don't create a whisper file, estimate storage "
                           "requirements based on archive definitions")
    parser.add_option('--sparse', default=False, action='store_true',
                      help='Create new whisper as sparse file')
    parser.add_option('--fallocate', default=False, action='store_true',
                      help='Create new whisper and use fallocate')
    options, args = parser.parse_args(argv)
    if options.estimate:
        return _estimate(ctx, parser, args)
    if len(args) < 2:
        parser.print_help()
        return 1
    path = args[0]
    archives = [_parse_retention(ctx, text) for text in args[1:]]
    if os.path.exists(path) and options.overwrite:
        ctx.say('Overwriting existing file: %s' % path)
        os.unlink(path)
    _create(ctx, path, archives, xFilesFactor=options.xFilesFactor,
            aggregationMethod=options.aggregationMethod, sparse=options.sparse,
            useFallocate=options.fallocate)
    ctx.say('Created: %s (%d bytes)' % (path, os.stat(path).st_size))
    return 0


def _create(ctx, path, archives, **kwargs):
    """engine.create, removing the file again if it began one and then refused."""
    existed = os.path.lexists(path)
    try:
        ctx.engine.create(path, archives, **kwargs)
    except ctx.engine.WhisperException:
        if not existed and os.path.lexists(path):
            os.unlink(path)
        raise


def _estimate(ctx, parser, args):
    if not args:
        parser.print_usage()
        return 1
    if len(args) == 1 and args[0].find(',') > 0:
        args = args[0].split(',')
    archives = [_parse_retention(ctx, text) for text in args]
    for number, (precision, points) in enumerate(archives):
        ctx.say('Archive %s: %s points of %ss precision' % (number, points, precision))
    total_points = sum(points for _, points in archives)
    size = (carbonish_whisper.metadataSize + len(archives) * carbonish_whisper.archiveInfoSize
            + total_points * carbonish_whisper.pointSize)
    blocks = -(-size // ESTIMATE_BLOCK_BYTES)
    disk_size = blocks * ESTIMATE_BLOCK_BYTES
    ctx.say('\nEstimated Whisper DB Size: %s (%s bytes on disk with 4k blocks)\n'
            % (_byte_format(size), disk_size))
    for thousands in ESTIMATE_METRIC_THOUSANDS:
        ctx.say('Estimated storage requirement for %sk metrics: %s'
                % (thousands, _byte_format(thousands * 1000 * disk_size)))
    return 0


# -- info --------------------------------------------------------------------------------

def _cmd_info(ctx, argv):
    parser = _parser(ctx, 'info', '%prog [options] path [field]')
    parser.add_option('--json', default=False, action='store_true',
                      help='Output results in JSON form')
    options, args = parser.parse_args(argv)
    if not args:
        parser.print_help()
        return 1
    path = args[0]
    info = _read_info(ctx, path)
    info['fileSize'] = os.stat(path).st_size
    if len(args) > 1:
        return _info_field(ctx, info, args[1])
    if options.json:
        ctx.say(json.dumps(info, indent=2, separators=(',', ': ')))
        return 0
    archives = info.pop('archives')
    for key, value in info.items():
        ctx.say('%s: %s' % (key, value))
    ctx.say()
    for number, archive in enumerate(archives):
        ctx.say('Archive %d' % number)
        for key, value in archive.items():
            ctx.say('%s: %s' % (key, value))
        ctx.say()
    return 0


def _info_field(ctx, info, field):
    if field not in info:
        ctx.say('Unknown field "%s". Valid fields are %s' % (field, ','.join(info)))
        return 1
    ctx.say(str(info[field]))
    return 0


# -- fetch -------------------------------------------------------------------------------

DROP_FILTERS = MappingProxyType({
    'zeroes': lambda value: value != 0,
    'nulls': lambda value: value is not None,
    'empty': lambda value: value != 0 and value is not None,
})


def _cmd_fetch(ctx, argv):
    parser = _parser(ctx, 'fetch', '%prog [options] path')
    parser.add_option('--from', default=ctx.now - SECONDS_PER_DAY, type='int', dest='_from',
                      help='Unix epoch time of the beginning of '
                           'your requested interval (default: 24 hours ago)')
    parser.add_option('--until', default=ctx.now, type='int',
                      help='Unix epoch time of the end of your requested interval '
                           '(default: now)')
    parser.add_option('--json', default=False, action='store_true',
                      help='Output results in JSON form')
    parser.add_option('--pretty', default=False, action='store_true',
                      help='Show human-readable timestamps instead of unix times')
    parser.add_option('-t', '--time-format', action='store', type='string',
                      dest='time_format',
                      help='Time format to use with --pretty; see time.strftime()')
    parser.add_option('--drop', choices=list(DROP_FILTERS), action='store',
                      help="Specify 'nulls' to drop all null values. "
                           "Specify 'zeroes' to drop all zero values. "
                           "Specify 'empty' to drop both null and zero values")
    options, args = parser.parse_args(argv)
    if len(args) != 1:
        parser.print_help()
        return 1
    data = ctx.engine.fetch(args[0], options._from, options.until, now=ctx.now)
    if not data:
        raise CliError('No data in selected timerange')
    (start, end, step), values = data
    points = zip(range(start, start + step * len(values), step), values)
    if options.drop:
        keep = DROP_FILTERS[options.drop]
        points = [(t, value) for t, value in points if keep(value)]
    if options.json:
        values_json = str([value for _, value in points]).replace('None', 'null')
        ctx.say('{\n    "start" : %d,\n    "end" : %d,\n    "step" : %d,\n'
                '    "values" : %s\n  }' % (start, end, step, values_json))
        return 0
    if options.pretty:
        format_time = _time_formatter(True, options.time_format)
        points = [(format_time(t), value) for t, value in points]
    ctx.out.write(''.join(['%s\tNone\n' % t if value is None else '%s\t%f\n' % (t, value)
                           for t, value in points]))
    return 0


def _time_formatter(pretty, time_format):
    if not pretty:
        return str
    if time_format:
        return lambda t: time.strftime(time_format, time.localtime(t))
    return time.ctime


# -- dump --------------------------------------------------------------------------------

def _cmd_dump(ctx, argv):
    parser = _parser(ctx, 'dump', '%prog path')
    parser.add_option('--pretty', default=False, action='store_true',
                      help='Show human-readable timestamps instead of unix times')
    parser.add_option('-t', '--time-format', action='store', type='string',
                      dest='time_format',
                      help='Time format to use with --pretty; see time.strftime()')
    parser.add_option('-r', '--raw', default=False, action='store_true',
                      help='Dump value only in the same format for whisper-update '
                           '(UTC timestamps)')
    options, args = parser.parse_args(argv)
    if len(args) != 1:
        parser.error('require one input file name')
    path = args[0]
    if not os.path.exists(path):
        raise CliError('[ERROR] File "%s" does not exist!' % path)
    header = _read_info(ctx, path)
    if not options.raw:
        _dump_header(ctx, header)
    format_time = _time_formatter(options.pretty, options.time_format)
    with open(path, 'rb') as fh:
        for number, archive in enumerate(header['archives']):
            points = _read_archive(fh, path, number, archive)
            _dump_points(ctx, number, points, options.raw, format_time)
    return 0


def _dump_header(ctx, header):
    ctx.say('Meta data:')
    ctx.say('  aggregation method: %s' % header['aggregationMethod'])
    ctx.say('  max retention: %d' % header['maxRetention'])
    ctx.say('  xFilesFactor: %g' % header['xFilesFactor'])
    ctx.say()
    for number, archive in enumerate(header['archives']):
        ctx.say('Archive %d info:' % number)
        for label, key in (('offset', 'offset'), ('seconds per point', 'secondsPerPoint'),
                           ('points', 'points'), ('retention', 'retention'),
                           ('size', 'size')):
            ctx.say('  %s: %d' % (label, archive[key]))
        ctx.say()


def _read_archive(fh, path, number, archive):
    """Every slot of one archive in file order: (timestamps, values) as Python lists."""
    point_dtype = carbonish_whisper.POINT_DTYPE   # the file layout, whichever engine runs
    size = archive['points'] * point_dtype.itemsize
    data = os.pread(fh.fileno(), size, archive['offset'])
    if len(data) != size:
        raise CliError('[ERROR] Archive %d is truncated: %d of %d bytes (%s)'
                       % (number, len(data), size, path))
    points = np.frombuffer(data, dtype=point_dtype)
    return points['t'].tolist(), points['v'].tolist()


def _dump_points(ctx, number, points, raw, format_time):
    timestamps, values = points
    if raw:
        lines = ['%s:%.35g\n' % point for point in zip(timestamps, values)]
    else:
        ctx.say('Archive %d data:' % number)
        if format_time is not str:
            timestamps = [format_time(t) for t in timestamps]
        lines = ['%d: %s, %10.35g\n' % row for row in zip(range(len(values)), timestamps, values)]
    ctx.out.write(''.join(lines))


# -- update ------------------------------------------------------------------------------

def _cmd_update(ctx, argv):
    parser = _parser(ctx, 'update', '''%prog [options] path [timestamp:value]*

  If no values are passed as arguments, they are read one-per-line from stdin.''')
    options, args = parser.parse_args(argv)
    if not args:
        parser.print_help()
        return 1
    path = args[0]
    texts = args[1:] if len(args) >= 2 else [line for line in ctx.stdin if line.strip()]
    points = [_parse_point(text.replace('N:', '%d:' % ctx.now)) for text in texts]
    if len(points) == 1:
        timestamp, value = points[0]
        ctx.engine.update(path, value, timestamp, now=ctx.now)
    else:
        ctx.engine.update_many(path, points, now=ctx.now)
    return 0


def _parse_point(text):
    parts = text.strip().split(':')
    try:
        timestamp, value = parts
        return int(timestamp), float(value)
    except ValueError as exc:
        raise CliError("[ERROR] Invalid datapoint '%s': expected timestamp:value "
                       "(integer seconds, or N for now)" % text.strip()) from exc


# -- set-aggregation, set-xff ------------------------------------------------------------

def _cmd_set_aggregation(ctx, argv):
    parser = _parser(ctx, 'set-aggregation',
                     '%%prog path <%s> [xFilesFactor]' % '|'.join(ctx.engine.aggregationMethods))
    options, args = parser.parse_args(argv)
    if len(args) < 2:
        parser.print_help()
        return 1
    path, method = args[0], args[1]
    xff = _parse_xff(args[2]) if len(args) == 3 else None
    try:
        old_method = ctx.engine.setAggregationMethod(path, method, xff)
    except (IOError, OSError):
        ctx.err.write("[ERROR] File '%s' does not exist!\n\n" % path)
        parser.print_help()
        return 1
    ctx.say('Updated aggregation method: %s (%s -> %s)' % (path, old_method, method))
    return 0


def _parse_xff(text):
    try:
        return float(text)
    except ValueError as exc:
        raise CliError('[ERROR] Invalid xFilesFactor %s, not a float' % text) from exc


def _cmd_set_xff(ctx, argv):
    parser = _ArgumentParser(ctx, prog='%s set-xff' % PROG,
                             description='Set xFilesFactor for existing whisper file')
    parser.add_argument('path', type=str, help='path to whisper file')
    parser.add_argument('xff', metavar='xFilesFactor', type=float,
                        help='new xFilesFactor, a float between 0 and 1')
    args = parser.parse_args(argv)
    try:
        old_xff = ctx.engine.setXFilesFactor(args.path, args.xff)
    except (IOError, OSError):
        ctx.err.write("[ERROR] File '%s' does not exist!\n\n" % args.path)
        parser.print_help()
        return 1
    ctx.say('Updated xFilesFactor: %s (%s -> %s)' % (args.path, float(old_xff), args.xff))
    return 0


# -- merge, diff -------------------------------------------------------------------------

def _cmd_merge(ctx, argv):
    parser = _parser(ctx, 'merge', '%prog [options] from_path to_path')
    parser.add_option('--from', default=None, type='int', dest='_from',
                      help='Begining of interval, unix timestamp (default: epoch)')
    parser.add_option('--until', default=None, type='int',
                      help='End of interval, unix timestamp (default: now)')
    options, args = parser.parse_args(argv)
    if len(args) < 2:
        parser.print_help()
        return 1
    path_from, path_to = args[0], args[1]
    for path in (path_from, path_to):
        if not os.path.exists(path):
            raise CliError('[ERROR] File "%s" does not exist!' % path)
    try:
        ctx.engine.merge(path_from, path_to, options._from, options.until, now=ctx.now)
    except (NotImplementedError, ValueError) as exc:
        raise CliError('[ERROR] %s' % exc) from exc
    return 0


def _cmd_diff(ctx, argv):
    parser = _parser(ctx, 'diff', '%prog [options] path_a path_b')
    parser.add_option('--summary', default=False, action='store_true',
                      help='show summary of differences')
    parser.add_option('--ignore-empty', default=False, action='store_true',
                      help='skip comparison if either value is undefined')
    parser.add_option('--columns', default=False, action='store_true',
                      help='print output in simple columns')
    parser.add_option('--no-headers', default=False, action='store_true',
                      help='do not print column headers')
    parser.add_option('--until', default=None, type='int',
                      help='Unix epoch time of the end of your requested '
                           'interval (default: None)')
    parser.add_option('--json', default=False, action='store_true',
                      help='Output results in JSON form')
    options, args = parser.parse_args(argv)
    if len(args) != 2:
        parser.print_help()
        return 1
    path_a, path_b = args
    try:
        diffs = ctx.engine.diff(path_a, path_b, ignore_empty=options.ignore_empty,
                                until_time=options.until or None, now=ctx.now)
    except NotImplementedError as exc:
        raise CliError('[ERROR] %s' % exc) from exc
    diffs = [(int(number), [(int(t), _plain(a), _plain(b)) for t, a, b in points], int(total))
             for number, points, total in diffs]
    if options.json:
        ctx.say(_diff_json(diffs, path_a, path_b, options.summary))
    elif options.summary:
        _print_summary(ctx, diffs, not options.columns, not options.no_headers)
    else:
        _print_diffs(ctx, diffs, not options.columns, not options.no_headers)
    return 0


def _plain(value):
    return None if value is None else float(value)


def _print_diffs(ctx, diffs, pretty, headers):
    head = '%7s %11s %13s %13s\n' if pretty else '%s %s %s %s\n'
    row = '%7s %11d %13s %13s\n' if pretty else '%s %d %s %s\n'
    if headers:
        ctx.out.write(head % ('archive', 'timestamp', 'value_a', 'value_b'))
    for number, points, total in diffs:
        if pretty:
            ctx.out.write('Archive %d (%d of %d datapoints differ)\n'
                          % (number, len(points), total))
            ctx.out.write(head % ('', 'timestamp', 'value_a', 'value_b'))
        label = '' if pretty else number
        ctx.out.write(''.join(row % (label, t, a, b) for t, a, b in points))


def _print_summary(ctx, diffs, pretty, headers):
    row = '%7s %9s %9s\n' if pretty else '%s %s %s\n'
    if headers:
        ctx.out.write(row % ('archive', 'total', 'differing'))
    for number, points, total in diffs:
        ctx.out.write(row % (number, total, len(points)))


def _diff_json(diffs, path_a, path_b, summary):
    archives = []
    for number, points, total in diffs:
        entry = {'archive': number, 'total': total, 'points': len(points)}
        if not summary:
            entry['datapoint'] = [{'timestamp': t, 'value_a': a, 'value_b': b}
                                  for t, a, b in points]
        archives.append(entry)
    return json.dumps({'path_a': path_a, 'path_b': path_b, 'archives': archives},
                      sort_keys=True, indent=2, separators=(',', ' : '))


# -- resize ------------------------------------------------------------------------------

def _cmd_resize(ctx, argv):
    parser = _parser(ctx, 'resize', '%prog path ' + RETENTIONS + '\n' + RETENTION_HELP)
    parser.add_option('--xFilesFactor', default=None, type='float',
                      help='Change the xFilesFactor')
    parser.add_option('--aggregationMethod', default=None, type='string',
                      help='Change the aggregation function (%s)' % _methods(ctx))
    parser.add_option('--force', default=False, action='store_true',
                      help='Perform a destructive change')
    parser.add_option('--newfile', default=None, action='store',
                      help='Create a new database file without removing the existing one')
    parser.add_option('--nobackup', action='store_true',
                      help='Delete the .bak file after successful execution')
    parser.add_option('--aggregate', action='store_true',
                      help='Try to aggregate the values to fit the new archive better.'
                           ' Note that this will make things slower and use more memory.')
    options, args = parser.parse_args(argv)
    if len(args) < 2:
        parser.print_help()
        return 1
    path = args[0]
    if not os.path.exists(path):
        ctx.err.write("[ERROR] File '%s' does not exist!\n\n" % path)
        parser.print_help()
        return 1
    _read_info(ctx, path)
    new_archives = [_parse_retention(ctx, text) for text in args[1:]]
    ctx.say('Retrieving all data from the archives')
    new_path = options.newfile
    if new_path is None:
        new_path = path + '.tmp'
        if os.path.exists(new_path):
            ctx.say('Removing previous temporary database file: %s' % new_path)
    ctx.say('Creating new whisper database: %s' % new_path)
    ctx.engine.resize(path, new_archives, xff=options.xFilesFactor,
                      aggregation=options.aggregationMethod, aggregate=bool(options.aggregate),
                      newfile=options.newfile, nobackup=bool(options.nobackup), now=ctx.now)
    result = path if options.newfile is None else new_path
    ctx.say('Created: %s (%d bytes)' % (new_path, os.stat(result).st_size))
    ctx.say('Migrating data %s aggregation...' % ('with' if options.aggregate else 'without'))
    if options.newfile is None:
        backup = path + '.bak'
        ctx.say('Renaming old database to: %s' % backup)
        ctx.say('Renaming new database to: %s' % path)
        if options.nobackup:
            ctx.say('Unlinking backup: %s' % backup)
    return 0


# -- fill --------------------------------------------------------------------------------

def _cmd_fill(ctx, argv):
    parser = _parser(ctx, 'fill', '%prog [--lock] src dst',
                     description='copies data from src in dst, if missing')
    parser.add_option('--lock', help='Lock whisper files', default=False,
                      action='store_true')
    options, args = parser.parse_args(argv)
    if len(args) != 2:
        parser.print_help()
        return 1
    src, dst = args
    for path in (src, dst):
        _read_info(ctx, path)
    ctx.engine.fill(src, dst, now=ctx.now, lock=True if options.lock else None)
    return 0


# -- dispatch ----------------------------------------------------------------------------

COMMANDS: Mapping[str, tuple[Callable[[Context, list[str]], int], str]] = MappingProxyType({
    'create': (_cmd_create, 'make a file from retention definitions'),
    'info': (_cmd_info, 'print the header of a file'),
    'fetch': (_cmd_fetch, 'print the points of a time range'),
    'dump': (_cmd_dump, 'print every stored point'),
    'update': (_cmd_update, 'write timestamp:value points'),
    'resize': (_cmd_resize, 'rewrite a file with new archives'),
    'set-aggregation': (_cmd_set_aggregation, 'change the aggregation method'),
    'set-xff': (_cmd_set_xff, 'change the xFilesFactor'),
    'merge': (_cmd_merge, "copy one file's points into another"),
    'fill': (_cmd_fill, "copy points into another file's gaps"),
    'diff': (_cmd_diff, 'compare two files'),
})
ALIASES = MappingProxyType({
    'set-aggregation-method': 'set-aggregation',
    'set-xfilesfactor': 'set-xff',
})


def _usage():
    lines = ['usage: %s <command> [options] [args]' % PROG, '', 'commands:']
    lines += ['  %-16s %s' % (name, summary) for name, (_, summary) in COMMANDS.items()]
    lines += ['', "Each command takes the flags of Graphite's whisper-<command>.py; "
              "'%s <command> --help' lists them." % PROG]
    return '\n'.join(lines) + '\n'


def main(argv, stdout=None, stderr=None, stdin=None, now=None, engine=None):
    """Run one `carbonish whisper` command; argv excludes the word "whisper". Returns the
    exit status. `now` (epoch seconds) is the clock for every command; `engine` is the
    whisper-API module to run on (carbonish.whisper unless a test passes another)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    if not argv or argv[0] in ('-h', '--help', 'help'):
        (out if argv else err).write(_usage())
        return 0 if argv else 2
    name = ALIASES.get(argv[0], argv[0])
    if name not in COMMANDS:
        err.write("%s: unknown command '%s'\n%s" % (PROG, argv[0], _usage()))
        return 2
    engine = engine or carbonish_whisper
    ctx = Context(out=out, err=err, stdin=stdin or sys.stdin,
                  now=int(time.time()) if now is None else int(now), engine=engine)
    return _run(ctx, COMMANDS[name][0], argv[1:])


def _run(ctx, command, argv):
    """The one place where failures become a message and an exit status."""
    try:
        return command(ctx, argv)
    except _ParserExit as exc:
        return exc.status
    except CliError as exc:
        ctx.err.write(exc.message + '\n')
        return exc.status
    except BrokenPipeError:
        return SIGPIPE_STATUS
    except (ctx.engine.WhisperException, OSError) as exc:
        ctx.err.write('[ERROR] %s\n' % exc)
        return 1
