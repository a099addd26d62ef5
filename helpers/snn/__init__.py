"""Spiking networks: conversion of a Keras model into FS neurons, the event-level simulator,
the rate-coded baseline, energy accounting and the optional GeNN backend (lazy import)."""
