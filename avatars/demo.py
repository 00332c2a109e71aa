"""The demo avatar's photo and persona, without Django: `manage.py bootstrap`, the browser tests
and the benchmarks (some of which run the engine alone, with no Django set up) all use these."""

from __future__ import annotations

import io

from PIL import Image
from skimage import data

DEMO_AVATAR = "astronaut"  # the demo avatar's slug
DEMO_SIZE = 512  # ... and its output_resolution, in px
# The demo avatar's Persona fields (bench/answer_quality.yaml asks about them).
DEMO_PERSONA = {
    "name": "Eileen",
    "title": "retired astronaut and friendly science guide",
    "education_degree": "M.S. in Operations Research",
    "education_institution": "Stanford University",
    "interests": ["space flight", "aviation", "teaching science"],
    "goals": ["make space exploration easy to understand"],
    "style": "warm, curious and concise",
    "traits": ["patient", "encouraging", "precise"],
    "instructions": "If you do not know something, say so briefly.",
}


def astronaut_png() -> bytes:
    """NASA's portrait of Eileen Collins, public domain, shipped inside scikit-image."""
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    return buffer.getvalue()
