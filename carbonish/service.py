"""Builds the `carbonish cache` service tree from settings.

The writer is added first: MultiService stops children in reverse order, so the
listeners close, then statsd flushes its last interval, then the writer writes the whole
cache and its Deferred lets the reactor exit.
"""
import numpy as np
from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.logger import Logger

from carbonish import schemas
from carbonish.cache import MetricCache
from carbonish.ingest import Filters, Ingest
from carbonish.settings import ConfigError
from carbonish.instrumentation import Counters, RateLimitedLog, SelfMetrics, agent_prefix
from carbonish.receivers import http
from carbonish.receivers.cachequery import CacheQueryFactory
from carbonish.receivers.pickle import PickleFactory
from carbonish.receivers.plaintext import PlaintextFactory, PlaintextUDP
from carbonish.receivers.udp import listen_udp
from carbonish.writer import Writer, WriterOptions, WriterService

log = Logger(namespace="carbonish")


class Listener(Service):
    """One TCP or UDP listener; logs the address it bound (port 0 picks a free one)."""

    def __init__(self, label, reactor, kind, port, interface, factory, rcvbuf=None):
        self.label = label
        self.reactor = reactor
        self.kind = kind
        self.port = port
        self.interface = interface
        self.factory = factory
        self.rcvbuf = rcvbuf
        self.listening = None

    def startService(self):
        super().startService()
        if self.kind == "udp":  # batched reads; listen_udp logs the address and buffer
            self.listening = listen_udp(self.reactor, self.port, self.factory, self.interface,
                                        self.rcvbuf or 0, label=self.label)
            return
        self.listening = self.reactor.listenTCP(self.port, self.factory, interface=self.interface)
        host = self.listening.getHost()
        log.info("{label} listening on {kind}://{host}:{port}",
                 label=self.label, kind=self.kind, host=host.host, port=host.port)

    def stopService(self):
        super().stopService()
        if self.listening is not None:
            return self.listening.stopListening()


class CacheDaemon:
    """The collaborators of one daemon, built from settings; `service` is the tree."""

    def __init__(self, settings, reactor):
        cache_conf = settings.cache
        self.settings = settings
        self.reactor = reactor
        self.counters = Counters()
        self.log = RateLimitedLog(reactor, cache_conf.ERROR_LOG_INTERVAL)
        self.rules = schemas.load_rules(cache_conf.CONF_DIR)
        self.cache = MetricCache(cache_conf.MAX_CACHE_SIZE, cache_conf.CACHE_SIZE_LOW_WATERMARK,
                                 cache_conf.CACHE_BACKLOG_LIMIT)
        filters = Filters.load(cache_conf.WHITELISTS_DIR) if cache_conf.USE_WHITELIST else None
        self.ingest = Ingest(self.cache, self.counters, self.log, reactor, filters)
        self.writer = Writer(self.cache, self.rules, WriterOptions.from_settings(cache_conf),
                             self.counters, self.log)
        self.service = MultiService()
        WriterService(self.writer, reactor).setServiceParent(self.service)
        for child in self._children():
            child.setServiceParent(self.service)

    def _children(self):
        conf = self.settings.cache
        use_flow = conf.USE_FLOW_CONTROL
        yield Listener("plaintext", self.reactor, "tcp", conf.LINE_RECEIVER_PORT,
                       conf.LINE_RECEIVER_INTERFACE,
                       PlaintextFactory(self.ingest, self.reactor, conf.LINE_RECEIVER_MAX_LENGTH,
                                        use_flow))
        if conf.ENABLE_UDP_LISTENER:
            yield Listener("plaintext", self.reactor, "udp", conf.UDP_RECEIVER_PORT,
                           conf.UDP_RECEIVER_INTERFACE, PlaintextUDP(self.ingest),
                           conf.UDP_RECEIVER_BUFFER_SIZE)
        yield Listener("pickle", self.reactor, "tcp", conf.PICKLE_RECEIVER_PORT,
                       conf.PICKLE_RECEIVER_INTERFACE,
                       PickleFactory(self.ingest, self.reactor, conf.PICKLE_RECEIVER_MAX_LENGTH,
                                     use_flow))
        yield Listener("cache query", self.reactor, "tcp", conf.CACHE_QUERY_PORT,
                       conf.CACHE_QUERY_INTERFACE,
                       CacheQueryFactory(self.cache, self.counters, self.log,
                                         conf.LOCAL_DATA_DIR, conf.CACHE_QUERY_MAX_LENGTH))
        if self.settings.http.ENABLE:
            web = self.settings.http
            yield Listener("http", self.reactor, "tcp", web.PORT, web.INTERFACE,
                           http.build_site(self.ingest, web.MAX_BODY_SIZE))
        if self.settings.zeromq.ENABLE:
            from carbonish.receivers.zeromq import ZeroMQService
            zconf = self.settings.zeromq
            yield ZeroMQService(self.reactor, self.ingest, conf.LOCAL_DATA_DIR,
                                zconf.PULL_BIND, zconf.REP_BIND, zconf.HWM)
        if self.settings.statsd.ENABLE:
            yield self._statsd()
        if conf.CARBON_METRIC_INTERVAL > 0:
            yield self._self_metrics(conf.CARBON_METRIC_INTERVAL)

    def _statsd(self):
        """The aggregator flushes straight into the cache through the shared ingest."""
        from carbonish.statsd.config import StatsdConfigError, config_from_settings
        from carbonish.statsd.protocol import statsd_service
        try:
            config = config_from_settings(self.settings.statsd.as_dict())
        except StatsdConfigError as exc:
            raise ConfigError(self.settings.path, None, f"[statsd] {exc.key}", exc.rule) from None
        return statsd_service(config, self.ingest.points, self.reactor)

    def _self_metrics(self, interval):
        metrics = SelfMetrics(self.counters, self.cache,
                              agent_prefix(self.settings.cache.CARBON_METRIC_PREFIX), self.reactor)

        def record():
            rows = metrics.collect(interval)
            names = [name for name, _ in rows]
            timestamps = np.array([point[0] for _, point in rows], dtype=np.int64)
            values = np.array([point[1] for _, point in rows], dtype=np.float64)
            self.cache.add(names, timestamps, values)

        timer = TimerService(interval, record)
        timer.clock = self.reactor
        return timer


def build_cache_service(settings, reactor):
    return CacheDaemon(settings, reactor).service
