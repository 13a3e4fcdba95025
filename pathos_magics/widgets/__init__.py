"""The notebook front's displays.

Progress of a map (wired up by ``pathos_magics.progress``):
``progress_state`` (what is shown), ``progress_observer`` (events -> state
-> views), ``progress_text`` (tqdm bar), ``progress`` (the ipywidgets view:
the only one that imports IPython and ipywidgets).
"""
