"""Choosing the `tf.distribute` strategy of a run."""

import json
import logging
import os

import tensorflow as tf

log = logging.getLogger(__name__)


def make_strategy(name="auto"):
    """ "auto": MultiWorkerMirroredStrategy when TF_CONFIG names a cluster, else MirroredStrategy
    over all local GPUs (or the CPU). "mirrored", "multi_worker", or "default" (no distribution)."""
    if name == "auto":
        name = "multi_worker" if os.environ.get("TF_CONFIG") else "mirrored"
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("strategy 'multi_worker' needs TF_CONFIG naming the cluster and task")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "default":
        strategy = tf.distribute.get_strategy()
    else:
        raise ValueError(f"unknown strategy {name!r}")
    log.info("strategy %s with %d replica(s)", name, strategy.num_replicas_in_sync)
    return strategy


def task_index():
    """This process's task index in TF_CONFIG (0 without one)."""
    return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))


def is_chief():
    """True unless TF_CONFIG names this process as a non-chief worker (it must not write files)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    cluster = config.get("cluster", {})
    if not task:
        return True
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0
