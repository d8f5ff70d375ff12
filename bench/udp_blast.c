/* udp_blast: send each line of a file as one UDP datagram to 127.0.0.1:PORT at RATE/s.

   usage: udp_blast PORT RATE FILE
   FILE holds newline-terminated lines; each datagram is one line with its newline. The
   datagrams go out with sendmmsg in batches of at most 64 and at most ~1 ms of traffic
   (rate / 1000), each batch at its due time on CLOCK_MONOTONIC (sleeping, not spinning,
   until then), so the rate is steady and the sender leaves the CPU to the receiver. It
   stops after the last line and prints one line:
       sent=N failed=F seconds=S rate=R
   where `failed` counts datagrams the kernel refused (ECONNREFUSED, EAGAIN, ENOBUFS) and
   `rate` is N / S, S from the first send to the last. Compiled by bench_ingest.py with
   `cc -O2`; for the bench only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 64

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double when) {
    struct timespec ts;
    ts.tv_sec = (time_t)when;
    ts.tv_nsec = (long)((when - ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) { perror(path); fclose(f); return NULL; }
    char *data = malloc(st.st_size + 1);
    if (!data || fread(data, 1, st.st_size, f) != (size_t)st.st_size) {
        fprintf(stderr, "%s: could not read\n", path);
        fclose(f);
        free(data);
        return NULL;
    }
    fclose(f);
    *size = st.st_size;
    return data;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT RATE FILE\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    double rate = atof(argv[2]);
    if (port <= 0 || port > 65535 || !(rate > 0)) {
        fprintf(stderr, "bad PORT or RATE\n");
        return 2;
    }
    size_t size;
    char *data = read_file(argv[3], &size);
    if (!data) return 1;

    /* one iovec per line, newline included */
    size_t count = 0;
    for (size_t i = 0; i < size; i++) count += data[i] == '\n';
    struct iovec *iov = calloc(count ? count : 1, sizeof *iov);
    struct mmsghdr *msgs = calloc(count ? count : 1, sizeof *msgs);
    if (!iov || !msgs) { fprintf(stderr, "out of memory\n"); return 1; }
    size_t start = 0, n = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n') {
            iov[n].iov_base = data + start;
            iov[n].iov_len = i + 1 - start;
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            n++;
            start = i + 1;
        }
    }

    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (sock < 0) { perror("socket"); return 1; }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  /* 127.0.0.1 only */
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("connect");
        return 1;
    }

    size_t batch = (size_t)(rate / 1000.0);  /* at most ~1 ms of traffic a call */
    if (batch < 1) batch = 1;
    if (batch > MAX_BATCH) batch = MAX_BATCH;

    size_t sent = 0, failed = 0;
    double started = now_seconds();
    while (sent < count) {
        size_t want = count - sent < batch ? count - sent : batch;
        /* the batch is due when its last datagram is: sent + want - 1 after the start */
        double due = started + (sent + want - 1) / rate;
        if (now_seconds() < due) sleep_until(due);
        int done = sendmmsg(sock, msgs + sent, (unsigned)want, 0);
        if (done < 0) {
            if (errno == EINTR) continue;
            if (errno != ECONNREFUSED && errno != EAGAIN && errno != ENOBUFS) {
                perror("sendmmsg");
                return 1;
            }
            done = 1;  /* the first datagram of the batch was refused: counted, go on */
            failed++;
        }
        sent += done;
    }
    double seconds = now_seconds() - started;
    if (seconds <= 0) seconds = 1e-9;
    printf("sent=%zu failed=%zu seconds=%.6f rate=%.1f\n", sent, failed, seconds,
           sent / seconds);
    close(sock);
    free(msgs);
    free(iov);
    free(data);
    return 0;
}
