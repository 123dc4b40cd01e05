"""What a fast convolution's forward keeps for its two gradient kernels (``node.kernels.spectral``, ``node.kernels.winograd``).

A spectral or Winograd forward transforms x and W; the gradient kernels need
the same transforms, and both need gy transformed the same way. The forward
stores a ``KeptForGradients`` on its Function; each gradient kernel looks it
up with ``kept_by``, which returns it only for the very arrays the forward
read (checked by identity): a gradient Function called on other arrays (a
second derivative) computes afresh, through another kernel.
"""

__all__ = ["KeptForGradients", "both_gradients_wanted"]


class KeptForGradients:
    """The forward's inputs ``x`` and ``W`` (the very arrays), what a subclass computed from them, and gy once transformed.

    Subclasses set ``attribute`` (the name the forward stores it under on the
    Function) and write ``transform_gy``.
    """

    attribute = None

    def __init__(self, x, W):
        self.x, self.W = x, W
        self.gy = self.gy_transformed = None

    @classmethod
    def kept_by(cls, convolution, **arrays):
        """What ``convolution``'s forward kept, if it was computed from exactly these arrays (``x=``, ``W=``), else None."""
        kept = getattr(convolution, cls.attribute, None)
        if kept is None or any(getattr(kept, name) is not a for name, a in arrays.items()):
            return None
        return kept

    def transform_gy(self, gy):
        """gy in the form both gradient kernels read."""
        raise NotImplementedError

    def transformed_gy(self, gy, both_wanted):
        """``transform_gy(gy)``: computed for the first gradient that asks, handed to the second.

        ``both_wanted``: whether the other gradient will ask too; only then is
        the result kept, and the second request lets it go.
        """
        if self.gy is gy:
            done = self.gy_transformed
            self.gy = self.gy_transformed = None
            return done
        done = self.transform_gy(gy)
        if both_wanted:
            self.gy, self.gy_transformed = gy, done
        return done


def both_gradients_wanted(convolution):
    """Whether the backward of ``convolution`` asks for the gradients of both x and W."""
    return convolution.inputs is not None and all(convolution.needs_input_grad[:2])
