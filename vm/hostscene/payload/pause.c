/* The pod sandbox's process: holds the pod's namespaces and does nothing.
 *
 * What Kubernetes' pause container does (build/pause/linux/pause.c there):
 * as PID 1 of the pod it reaps orphans (SIGCHLD), exits on SIGINT/SIGTERM,
 * and otherwise sleeps in pause(2). Written for the nsscope capture scene;
 * built static by vm/hostscene/images.py into the "registry.k8s.io/pause"
 * image the scene imports into containerd.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { _exit(128 + sig); }

static void on_child(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;)
        pause();
    return 0;
}
