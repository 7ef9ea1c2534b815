"""Multi-scale structural similarity (MS-SSIM; Wang, Simoncelli & Bovik 2003) with a
gradient everywhere: the training loss of ``objectives.MSSSIM``.

TensorFlow's ``tf.image.ssim_multiscale`` clamps each scale's term (a mean contrast-
structure measure cs_j, and the last scale's SSIM) at 0 with a ReLU before raising it to
its weight w_j < 1; where a term is not positive the gradient of that power, infinite at
0, meets the ReLU's zero and is NaN (an untrained decoder's means do that on binary digits:
the zoo's MS-SSIM VAE stopped with a NaN loss in its second epoch). Here each term is
floored at ``FLOOR`` instead, and the rest is TensorFlow's computation: the same Gaussian
window (sigma 1.5, VALID convolutions), constants (k1 0.01, k2 0.03) and downsampling (an
odd side padded symmetrically, 2x2 average pooling), so the value is
``tf.image.ssim_multiscale``'s wherever every term exceeds ``FLOOR``::

    MS-SSIM(x, y) = prod_{j < M} max(cs_j, FLOOR)^w_j * max(SSIM_M, FLOOR)^w_M

averaged over the channels; per image.
"""

import tensorflow as tf

FLOOR = 1e-4
K1, K2, SIGMA = 0.01, 0.03, 1.5


def window(size, channels):
    """TensorFlow's Gaussian window: ``size`` x ``size``, sigma 1.5, summing to 1, one per
    channel (a depthwise kernel)."""
    coords = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    squared = -0.5 * tf.square(coords) / SIGMA ** 2
    weights = tf.nn.softmax(tf.reshape(squared[None, :] + squared[:, None], [-1]))
    return tf.tile(tf.reshape(weights, [size, size, 1, 1]), [1, 1, channels, 1])


def scale_terms(x, y, size, max_val=1.0):
    """``(ssim, cs)`` per image and channel (batch, channels): the means over the image of
    the SSIM map and of its contrast-structure part."""
    kernel = window(size, x.shape[-1])

    def blur(images):
        return tf.nn.depthwise_conv2d(images, kernel, [1, 1, 1, 1], "VALID")

    c1, c2 = (K1 * max_val) ** 2, (K2 * max_val) ** 2
    mean_x, mean_y = blur(x), blur(y)
    products = 2.0 * mean_x * mean_y
    squares = tf.square(mean_x) + tf.square(mean_y)
    luminance = (products + c1) / (squares + c1)
    variances = blur(tf.square(x) + tf.square(y)) - squares
    cs = (2.0 * blur(x * y) - products + c2) / (variances + c2)
    return tf.reduce_mean(luminance * cs, [1, 2]), tf.reduce_mean(cs, [1, 2])


def halved(images):
    """``images`` at half the height and width: an odd side padded symmetrically by one
    row or column, then 2x2 average pooling (TensorFlow's MS-SSIM downsampling)."""
    height, width = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]],
                    mode="SYMMETRIC")
    return tf.nn.avg_pool2d(padded, 2, 2, "VALID")


def ms_ssim(x, y, weights, size, max_val=1.0):
    """MS-SSIM of each pair of images (batch, height, width, channels) over ``len(weights)``
    scales with windows of ``size`` pixels, each term floored at FLOOR: (batch,)."""
    logs = []
    for scale, weight in enumerate(weights):
        if scale:
            x, y = halved(x), halved(y)
        ssim, cs = scale_terms(x, y, size, max_val)
        term = ssim if scale == len(weights) - 1 else cs
        logs.append(weight * tf.math.log(tf.maximum(term, FLOOR)))
    return tf.reduce_mean(tf.exp(tf.add_n(logs)), -1)
