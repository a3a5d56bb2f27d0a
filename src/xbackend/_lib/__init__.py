"""The loss library: public functions, kernels (forward + analytic gradient), reductions,
labels, checks and the chunked path, written once in Array API calls.

Nothing here knows a framework: every framework decision is a method of the backend
object of :mod:`xbackend._backends`, looked up once per call.
"""
